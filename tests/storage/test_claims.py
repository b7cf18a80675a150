"""Claims in the database: of racing trials exactly one wins a configuration, a
(configuration, rung) and a budget slot, whatever order they write in; a retried call keeps
its own claim; a trial that failed before its evaluation frees what it held.

Two handles on one SQLite file stand for two worker processes (each with Optuna's own
cache). The interleavings are the ones the claim by trial number got wrong: the higher
trial B writes and checks first, then the lower trial A.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress import storage as st
from moo_compress.drivers.optuna_samplers import claim_config
from tests.conftest import ClaimsOnly

CONFIG = {"prune_ratio": 0.5}


def _claim(study, trial, key: str, *, n_trials: int):
    """A worker's claim of ``key`` and a budget slot, through the handle ``study``."""
    return claim_config(ClaimsOnly(study), trial, key, n_trials)


def _handles(tmp_path, n: int = 2):
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    optuna.create_study(study_name="s", storage=st.open_storage(url))
    return [optuna.load_study(study_name="s", storage=st.open_storage(url)) for _ in range(n)]


def _propose(study, key: str):
    trial = study.ask()
    record.write_config(trial, {**CONFIG, "key": key}, key)
    return trial


def _fail(study, trial, reason: str | None) -> None:
    if reason is not None:
        record.write_fail_reason(trial, reason)
    study.tell(trial, state=TrialState.FAIL)


def test_the_higher_trial_that_checks_first_keeps_its_configuration(tmp_path):
    """B (trial 1) writes and checks, then A (trial 0) writes and checks: exactly one runs.
    By trial number A would win although B already runs (both ran)."""
    worker_a, worker_b = _handles(tmp_path)
    a = worker_a.ask()  # trial 0: asked first, writes its configuration last
    b = _propose(worker_b, "k")
    assert (a.number, b.number) == (0, 1)
    assert _claim(worker_b, b, "k", n_trials=5) is None
    record.write_config(a, CONFIG, "k")
    reason = _claim(worker_a, a, "k", n_trials=5)
    assert reason == "duplicate of trial 1: configuration already evaluated or running"


def test_the_last_budget_slot_goes_to_the_trial_that_checks_first(tmp_path):
    """One trial of budget, two configurations: exactly one runs, the first to claim (B);
    A is skipped. (By trial number B was skipped for A, which had not written anything
    yet; mo-asha's count missed A and both ran, see tests/drivers/test_mo_asha_claims.py.)"""
    worker_a, worker_b = _handles(tmp_path)
    a = worker_a.ask()
    b = _propose(worker_b, "kb")
    assert _claim(worker_b, b, "kb", n_trials=1) is None
    record.write_config(a, CONFIG, "ka")
    assert _claim(worker_a, a, "ka", n_trials=1) == (
        "skipped: the budget is met by completed and running trials"
    )
    # the skipped trial gave its configuration back: it is free for a later trial
    _fail(worker_a, a, "skipped: the budget is met by completed and running trials")
    worker_b.tell(b, 1.0)
    c = _propose(worker_a, "ka")
    assert _claim(worker_a, c, "ka", n_trials=2) is None


def test_a_retried_claim_keeps_its_own_configuration_and_slot(tmp_path):
    """A storage call retried after a lost answer must not lose what its first attempt took."""
    (study,) = _handles(tmp_path, 1)
    t = _propose(study, "k")
    assert _claim(study, t, "k", n_trials=1) is None
    assert _claim(study, t, "k", n_trials=1) is None
    assert st.claim(study, t, st.config_claim("k")) is None
    assert st.take_budget_slot(study, t, 1) == 0
    assert st.take_budget_slot(study, t, 1) == 0


def test_a_failed_evaluation_frees_its_slot_and_keeps_its_configuration(tmp_path):
    """The budget still ends at n_trials complete trials: a failed evaluation's slot is
    taken again; its configuration is not evaluated again (as ``search`` keeps it)."""
    worker_a, worker_b = _handles(tmp_path)
    b = _propose(worker_b, "k1")
    assert _claim(worker_b, b, "k1", n_trials=1) is None
    _fail(worker_b, b, "ValueError: objective accuracy is undefined: no value")
    again = _propose(worker_a, "k1")
    assert _claim(worker_a, again, "k1", n_trials=1) == (
        f"duplicate of trial {b.number}: configuration already evaluated or running"
    )
    _fail(worker_a, again, "duplicate")
    other = _propose(worker_a, "k2")
    assert _claim(worker_a, other, "k2", n_trials=1) is None


@pytest.mark.parametrize(
    "reason",
    [None, record.INTERRUPTED, "abandoned: its worker stopped before its first heartbeat"],
)
def test_a_trial_stopped_before_its_result_frees_configuration_and_slot(tmp_path, reason):
    """A dead worker's trial (failed without a reason by the heartbeat check), an
    interrupted or an abandoned one: its re-queued configuration runs again, in its slot."""
    worker_a, worker_b = _handles(tmp_path)
    dead = _propose(worker_b, "k")
    assert _claim(worker_b, dead, "k", n_trials=1) is None
    _fail(worker_b, dead, reason)
    retry = _propose(worker_a, "k")
    assert _claim(worker_a, retry, "k", n_trials=1) is None
    assert st.take_budget_slot(worker_a, retry, 1) == 0
    late = _propose(worker_b, "k")  # the dead trial's claim went to the retry, once
    assert _claim(worker_b, late, "k", n_trials=2) == (
        f"duplicate of trial {retry.number}: configuration already evaluated or running"
    )


def test_complete_trials_without_claims_count_as_evaluated_and_use_budget(tmp_path):
    """Trials written by a plain ``search`` (no claims) are duplicates and use budget."""
    (study,) = _handles(tmp_path, 1)
    legacy = _propose(study, "k")
    study.tell(legacy, 1.0)
    t = _propose(study, "k")
    assert _claim(study, t, "k", n_trials=3) == (
        f"duplicate of trial {legacy.number}: configuration already evaluated or running"
    )
    _fail(study, t, "duplicate")
    u = _propose(study, "k2")
    assert _claim(study, u, "k2", n_trials=1) == (
        "skipped: the budget is met by completed and running trials"
    )
    assert _claim(study, u, "k2", n_trials=2) is None


def test_slots_are_distinct_and_never_more_than_the_budget(tmp_path):
    """Six trials on three handles in turn, budget four: the first four get slots 0-3,
    the others none until a slot's trial fails."""
    handles = _handles(tmp_path, 3)
    trials = [_propose(handles[i % 3], f"k{i}") for i in range(6)]
    got = [st.take_budget_slot(handles[i % 3], t, 4) for i, t in enumerate(trials)]
    assert got == [0, 1, 2, 3, None, None]
    _fail(handles[2], trials[2], "RuntimeError: out of memory")
    assert st.take_budget_slot(handles[1], trials[5], 4) == 2
    assert st.take_budget_slot(handles[1], trials[4], 4) is None


def test_claims_on_an_in_memory_storage(tmp_path):
    """Without a database (one process) the same rules hold."""
    study = optuna.create_study()
    a, b = study.ask(), study.ask()
    assert st.claim(study, b, st.config_claim("k")) is None
    assert st.claim(study, a, st.config_claim("k")).number == b.number
    assert st.take_budget_slot(study, b, 1) == 0
    assert st.take_budget_slot(study, a, 1) is None
    assert st.release_claim(study, b, st.config_claim("k"))
    assert st.claim(study, a, st.config_claim("k")) is None


PG = os.environ.get("MOO_COMPRESS_TEST_POSTGRES")


@pytest.mark.skipif(not PG, reason="MOO_COMPRESS_TEST_POSTGRES is not set (.ci/run sets it)")
def test_eight_threads_racing_on_postgresql_get_one_configuration_and_three_slots():
    """Eight handles (one per thread, as separate workers) claim one configuration and a slot
    of a budget of three at once, released by a barrier: one wins the configuration, three
    get distinct slots 0-2, the rest lose."""
    name = f"c{uuid.uuid4().hex[:10]}"
    optuna.create_study(study_name=name, storage=st.open_storage(PG))
    handles = [optuna.load_study(study_name=name, storage=st.open_storage(PG)) for _ in range(8)]
    trials = [h.ask() for h in handles]
    barrier = threading.Barrier(8)

    def race(i):
        barrier.wait()
        won = st.claim(handles[i], trials[i], st.config_claim("k")) is None
        return won, st.take_budget_slot(handles[i], trials[i], 3)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, range(8)))
    assert sum(won for won, _ in results) == 1
    assert sorted(s for _, s in results if s is not None) == [0, 1, 2]
