"""``budget.seconds``: the search stops once its evaluations have used the time, whichever
budget is met first, with every driver (replayed on a table whose evaluations take known
times)."""

from __future__ import annotations

import pytest

from moo_compress import record
from moo_compress.cli import main
from moo_compress.config import load_study_config
from moo_compress.drivers import DRIVER_INFO
from moo_compress.replay import replay
from tests.conftest import write_study
from tests.test_search_constraints import _table


@pytest.mark.parametrize("driver", list(DRIVER_INFO))
def test_the_search_stops_when_the_seconds_are_used(tmp_path, driver):
    study = write_study(tmp_path, driver=driver, n_trials=50)
    text = study.read_text().replace("budget: {n_trials: 50}", "budget: {seconds: 12.5}")
    study.write_text(text)
    cfg = load_study_config(study)
    assert cfg.budget_seconds == 12.5 and cfg.n_trials == 1_000_000
    result = replay(cfg, _table(cfg.space))  # each evaluation takes 1 or 2 table seconds
    # every evaluation counts, a multi-fidelity driver's lower rungs (PRUNED) included
    done = [t for t in result.trials if t.state.name in ("COMPLETE", "PRUNED")]
    spent = [record.evaluation_seconds(t) for t in sorted(done, key=lambda t: t.number)]
    assert sum(spent) >= 12.5, "stopped before the budget was used"
    assert sum(spent[:-1]) < 12.5, "went on after the budget was used"


def test_whichever_budget_is_met_first(tmp_path):
    study = write_study(tmp_path, driver="optuna-random", n_trials=3)
    study.write_text(study.read_text().replace("n_trials: 3", "n_trials: 3, seconds: 1000"))
    cfg = load_study_config(study)
    result = replay(cfg, _table(cfg.space))
    assert sum(t.state.name == "COMPLETE" for t in result.trials) == 3


@pytest.mark.parametrize(
    "budget,expected",
    [
        ("{max_failures: 3}", "budget.n_trials: is required unless budget.seconds is given"),
        ("{seconds: 0}", "budget.seconds: must be a number > 0.0. Got 0"),
        ("{seconds: soon}", "budget.seconds: must be a number"),
        ("{n_trials: 4, minutes: 3}", "budget.minutes: is not a known key"),
    ],
)
def test_bad_budgets_exit_2(tmp_path, capsys, budget, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    study.write_text(study.read_text().replace("budget: {n_trials: 8}", f"budget: {budget}"))
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not study.with_suffix(".db").exists()
