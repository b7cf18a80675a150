"""``budget.seconds``: the search stops once its evaluations have used the time, whichever
budget is met first, with every driver (replayed on a table whose evaluations take known
times)."""

from __future__ import annotations

import pytest

from moo_compress import record
from moo_compress.cli import main
from moo_compress.config import load_study_config
from moo_compress.drivers import DRIVER_INFO
from moo_compress.replay import STOPPED, replay
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


@pytest.mark.parametrize(
    "budget,expected",
    [
        ("{n_trials: 32}", 4),  # a tenth, rounded up: the 5th failure stops the search
        ("{n_trials: 8}", 3),  # at least 3
        ("{n_trials: 101}", 11),
        ("{seconds: 600}", 10),  # no count of trials to take a tenth of
        ("{n_trials: 32, max_failures: 32}", 32),  # the study file still sets it
        ("{n_trials: 32, max_failures: 0}", 0),
    ],
)
def test_the_default_failure_limit_is_a_tenth_of_the_trials(tmp_path, budget, expected):
    study = write_study(tmp_path)
    study.write_text(study.read_text().replace("budget: {n_trials: 8}", f"budget: {budget}"))
    assert load_study_config(study).max_failures == expected


def test_a_first_run_whose_every_evaluation_fails_stops_at_the_default_limit(tmp_path):
    cfg = load_study_config(write_study(tmp_path, driver="optuna-random", n_trials=32))
    table = _table(cfg.space)
    table.rows = {}  # every evaluation raises (TableMiss: not in the table)
    study = replay(cfg, table)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(failed) == 5  # not 33, as with the old default max_failures = n_trials
    assert study.user_attrs[STOPPED].startswith(
        "search stopped: 5 trials failed, more than budget.max_failures = 4 "
        "(set it in the study file to allow more); last reason: TableMiss"
    )


def test_a_budget_in_seconds_shows_seconds_used_and_left(tmp_path, capsys):
    import dataclasses

    import optuna

    from moo_compress.drivers import DRIVERS
    from moo_compress.search import SearchSession

    path = write_study(tmp_path, driver="optuna-random", n_trials=50)
    path.write_text(path.read_text().replace("budget: {n_trials: 50}", "budget: {seconds: 12}"))
    cfg = dataclasses.replace(load_study_config(path), cache_dir=tmp_path / "cache")
    assert cfg.seconds_only
    study = optuna.create_study(
        study_name=cfg.name, storage=optuna.storages.InMemoryStorage(), directions=cfg.directions
    )
    session = SearchSession(cfg, study, _table(cfg.space), show_progress=True)
    capsys.readouterr()  # Optuna's log of the new study
    session.start_progress()
    DRIVERS.get(cfg.driver)(cfg).run(session, interrupted=[])
    session.close()
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.replace("\r", "\n").splitlines() if line.strip()]
    # each evaluation of the table takes 1 or 2 s: the bar counts them out of the 12 s
    assert lines[0].startswith("tiny:   0%|") and "| 0/12 s evaluated [" in lines[0]
    assert "| 0/12 s evaluated [" in lines[1] and "complete=0 " in lines[1]
    assert "left=12s" in lines[1]
    n = sum(t.state.name == "COMPLETE" for t in study.trials)
    assert lines[-1].startswith("tiny: 100%|") and "| 12/12 s evaluated [" in lines[-1]
    assert f"complete={n} " in lines[-1] and "left=0s" in lines[-1]
    assert "1000000" not in err and "trial/s" not in err
