"""mo-asha workers' claims: of racing trials exactly one evaluates a (configuration, rung),
and the top rung never runs past ``budget.n_trials``, whatever order the trials write in.

Two handles on one SQLite file stand for two worker processes. The higher trial B writes
and checks first, then the lower trial A: by trial number A won too and both ran.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from moo_compress import record
from moo_compress import storage as st
from moo_compress.config import load_study_config
from moo_compress.drivers.mo_asha import MoAshaDriver
from tests.conftest import ClaimsOnly, write_study


def _driver(tmp_path, n_trials: int) -> MoAshaDriver:
    path = write_study(tmp_path, driver="mo-asha", n_trials=n_trials)
    return MoAshaDriver(load_study_config(path))


def _handles(tmp_path):
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    optuna.create_study(study_name="s", storage=st.open_storage(url))
    return [optuna.load_study(study_name="s", storage=st.open_storage(url)) for _ in range(2)]


def _write(trial, key: str, rung: int, top: int) -> None:
    record.write_rung(trial, rung, top, None)
    record.write_config(trial, {"key": key}, key)


def test_one_of_two_racing_trials_evaluates_a_rung(tmp_path):
    driver = _driver(tmp_path, n_trials=4)
    worker_a, worker_b = _handles(tmp_path)
    a, b = worker_a.ask(), worker_b.ask()
    assert (a.number, b.number) == (0, 1)
    _write(b, "k", 0, driver.top)
    assert driver._claim(ClaimsOnly(worker_b), b, "k", 0) is None
    _write(a, "k", 0, driver.top)
    assert driver._claim(ClaimsOnly(worker_a), a, "k", 0) == (
        "duplicate of trial 1: rung 0 of this configuration is claimed"
    )
    # another rung of the same configuration is another claim
    c = worker_a.ask()
    _write(c, "k", 1, driver.top)
    assert driver._claim(ClaimsOnly(worker_a), c, "k", 1) is None


def test_the_top_rung_never_runs_past_the_budget(tmp_path):
    """One full evaluation of budget: B's top rung claims first and runs; A's is skipped
    (by trial number A ran too). A trial whose rung is not written yet holds nothing."""
    driver = _driver(tmp_path, n_trials=1)
    top = driver.top
    worker_a, worker_b = _handles(tmp_path)
    a, b = worker_a.ask(), worker_b.ask()
    _write(b, "kb", top, top)
    assert driver._claim(ClaimsOnly(worker_b), b, "kb", top) is None
    _write(a, "ka", top, top)
    assert driver._claim(ClaimsOnly(worker_a), a, "ka", top) == (
        "skipped: the budget is met by completed and running trials"
    )
    record.write_fail_reason(a, "skipped: the budget is met by completed and running trials")
    worker_a.tell(a, state=TrialState.FAIL)
    # B's worker dies (failed by the heartbeat check, no reason): its slot and its
    # (configuration, rung) go to the next trial
    worker_b.tell(b, state=TrialState.FAIL)
    c = worker_a.ask()
    _write(c, "kb", top, top)
    assert driver._claim(ClaimsOnly(worker_a), c, "kb", top) is None
    # lower rungs use no budget slot
    d = worker_b.ask()
    _write(d, "kd", 0, top)
    assert driver._claim(ClaimsOnly(worker_b), d, "kd", 0) is None
