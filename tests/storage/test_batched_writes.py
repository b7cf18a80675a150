"""A trial's record and parameters written in one transaction each (issue 17) store exactly
what Optuna's own one-write-per-value calls store, on SQLite and on the real PostgreSQL
server (``MOO_COMPRESS_TEST_POSTGRES``, set by ``.ci/run``)."""

from __future__ import annotations

import os
import uuid

import optuna
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from moo_compress.storage import AttrBatch, suggest_in_one_transaction

PG = os.environ.get("MOO_COMPRESS_TEST_POSTGRES")
URLS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG, reason="no PG"))]


@pytest.fixture(params=URLS)
def url(request, tmp_path):
    return f"sqlite:///{tmp_path}/s.db" if request.param == "sqlite" else PG


def _study(url, sampler=None):
    return optuna.create_study(
        study_name=f"batched-{uuid.uuid4().hex[:8]}",
        storage=url,
        directions=["maximize", "minimize"],
        sampler=sampler,
    )


def _suggest(trial):
    return {
        "ratio": trial.suggest_float("ratio", 0.0, 0.9, step=0.05),
        "bits": trial.suggest_int("bits", 2, 8),
        "method": trial.suggest_categorical("method", ["magnitude", "random", "hydra"]),
        "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
    }


class _Commits:
    """Counts the transactions that write (reads commit too, and are not counted)."""

    def __init__(self):
        self.n = 0
        self.writing: set[int] = set()

    def statement(self, conn, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writing.add(id(conn))

    def commit(self, conn):
        if id(conn) in self.writing:
            self.writing.discard(id(conn))
            self.n += 1

    def __enter__(self):
        event.listen(Engine, "before_cursor_execute", self.statement)
        event.listen(Engine, "commit", self.commit)
        return self

    def __exit__(self, *exc):
        event.remove(Engine, "before_cursor_execute", self.statement)
        event.remove(Engine, "commit", self.commit)


ATTRS = {
    "config": {"ratio": 0.5, "nested": [1, 2.5, None, "x"]},
    "config_key": "abc123",
    "obj_accuracy": 97.5,
    "flag": True,
    "note": "ünïcode",
}
CONSTRAINTS = {"accuracy >= 90": -7.5, "mce <= 110": 3.25}


def test_a_batch_stores_what_optunas_calls_store_in_one_transaction(url):
    study = _study(url)
    one_by_one, batched = study.ask(), study.ask()
    for key, value in ATTRS.items():
        one_by_one.set_user_attr(key, value)
    for key, value in CONSTRAINTS.items():
        one_by_one.set_constraint(key, value)
    batch = AttrBatch(study, batched)
    for key, value in ATTRS.items():
        batch.set_user_attr(key, value)
    for key, value in CONSTRAINTS.items():
        batch.set_constraint(key, value)
    with _Commits() as commits:
        batch.flush()
    assert commits.n == 1
    retry = AttrBatch(study, batched)  # a retry: every row is an upsert, the last value wins
    retry.set_user_attr("config_key", "changed")
    retry.set_constraint("mce <= 110", 1.5)
    retry.flush()
    assert batched._cached_frozen_trial.user_attrs["config_key"] == "changed"
    assert study.get_trials()[1].user_attrs["config_key"] == "changed"
    assert study.get_trials()[1].system_attrs["constraints:mce <= 110"] == 1.5
    retry.set_user_attr("config_key", "abc123")
    retry.set_constraint("mce <= 110", 3.25)
    retry.flush()
    assert batched._cached_frozen_trial.user_attrs == ATTRS  # the trial's own view follows
    for t in (one_by_one, batched):
        study.tell(t, [1.0, 2.0])
    a, b = study.get_trials()
    assert a.user_attrs == b.user_attrs == ATTRS
    assert a.system_attrs == b.system_attrs
    # Optuna reads the constraints back as it wrote them (its samplers, best_trials)
    from optuna.study._constrained_optimization import _get_constraints_from_system_attrs as read

    assert read(a.system_attrs) == read(b.system_attrs) == CONSTRAINTS
    with pytest.raises(ValueError, match="NaN"):
        AttrBatch(study, study.ask()).set_constraint("x", float("nan"))


def test_a_batch_cannot_write_to_a_finished_trial(url):
    study = _study(url)
    trial = study.ask()
    study.tell(trial, [1.0, 2.0])
    batch = AttrBatch(study, trial)
    batch.set_user_attr("late", 1)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        batch.flush()


def test_parameters_in_one_transaction_are_the_ones_suggested_one_by_one(url):
    seeded = [_study(url, optuna.samplers.TPESampler(seed=3, n_startup_trials=3)) for _ in "ab"]
    plain, batched = seeded
    for _ in range(8):
        t1, t2 = plain.ask(), batched.ask()
        c1 = _suggest(t1)
        with _Commits() as commits:
            c2 = suggest_in_one_transaction(t2, _suggest)
        assert commits.n == 1
        assert c1 == c2 and t2.params == c2
        plain.tell(t1, [c1["ratio"], c1["bits"]])
        batched.tell(t2, [c2["ratio"], c2["bits"]])
    for a, b in zip(plain.get_trials(), batched.get_trials(), strict=True):
        assert a.params == b.params and a.distributions == b.distributions


def test_parameters_of_a_failing_suggest_are_not_written(url):
    study = _study(url)
    trial = study.ask()

    def broken(t):
        t.suggest_float("ratio", 0.0, 0.9)
        raise RuntimeError("space refused")

    with pytest.raises(RuntimeError, match="space refused"):
        suggest_in_one_transaction(trial, broken)
    assert study.get_trials()[0].params == {}
    # the storage writes as usual afterwards
    assert trial.suggest_int("bits", 2, 8) == study.get_trials()[0].params["bits"]


@pytest.mark.parametrize("fresh", [False, True], ids=["same-process", "other-process"])
def test_an_incompatible_distribution_is_refused_as_optuna_refuses_it(url, fresh):
    study = _study(url)
    first = study.ask()
    suggest_in_one_transaction(first, lambda t: t.suggest_float("ratio", 0.0, 0.9))
    study.tell(first, [1.0, 2.0])
    if fresh:  # another worker: its storage knows the distribution only from the database
        study = optuna.load_study(study_name=study.study_name, storage=url)
    second = study.ask()
    with pytest.raises(ValueError):
        suggest_in_one_transaction(
            second, lambda t: (t.suggest_int("bits", 2, 8), t.suggest_categorical("ratio", ["a"]))
        )
    assert study.get_trials()[1].params == {}  # nothing of the refused batch was written


def test_trials_suggested_in_threads_at_once_keep_every_parameter(url):
    import threading

    study = _study(url)
    trials = [study.ask() for _ in range(4)]
    inside = threading.Barrier(len(trials))
    out = {}

    def suggest(t):
        first = t.suggest_float("ratio", 0.0, 0.9)
        inside.wait(timeout=30)  # every thread is inside its own batch here
        return {"ratio": first, "bits": t.suggest_int("bits", 2, 8)}

    def run(t):
        out[t.number] = suggest_in_one_transaction(t, suggest)

    threads = [threading.Thread(target=run, args=(t,)) for t in trials]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stored = {t.number: t.params for t in study.get_trials()}
    assert stored == out and all(len(p) == 2 for p in stored.values())
    nested = study.ask()  # a call inside another queues into the outer one
    got = suggest_in_one_transaction(
        nested, lambda t: {**suggest_in_one_transaction(t, _suggest), "x": t.suggest_int("x", 0, 3)}
    )
    assert study.get_trials()[-1].params == got
