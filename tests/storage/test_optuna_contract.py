"""The Optuna internals ``moo_compress/storage/_optuna.py`` relies on (issue 22, section 5).

An Optuna upgrade that renames, moves or reorders one of them fails here with one message
naming what changed; at run time the same change makes moo-compress write through Optuna's
public calls after one warning, and this file checks that those store the same trials.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from packaging.requirements import Requirement
from packaging.version import Version

from moo_compress.storage import _optuna
from moo_compress.storage._optuna import (
    CACHED_STORAGE_ATTRS,
    TESTED_OPTUNA,
    AttrBatch,
    optuna_contract_problems,
    suggest_in_one_transaction,
)

ROOT = Path(__file__).resolve().parents[2]


def test_optunas_internals_are_the_ones_tested():
    problems = optuna_contract_problems()
    assert not problems, (
        f"Optuna {optuna.__version__} changed internals moo_compress/storage/_optuna.py uses: "
        + "; ".join(problems)
    )


def test_the_installed_optuna_is_in_the_pinned_range():
    # pyproject.toml's dependency line (tomllib is not in Python 3.10)
    (line,) = re.findall(
        r'^\s*"(optuna[<>=!~ ,.0-9]*)"', (ROOT / "pyproject.toml").read_text(), re.M
    )
    optuna_req = Requirement(line)
    assert str(optuna_req.specifier) == str(Requirement(f"optuna{TESTED_OPTUNA}").specifier)
    assert optuna_req.specifier.contains(Version(optuna.__version__)), (
        f"Optuna {optuna.__version__} is installed; pyproject.toml pins {optuna_req}: check "
        "tests/storage/test_optuna_contract.py on it, then widen TESTED_OPTUNA and the pin"
    )
    # an upper bound: the next minor release is outside until it is checked
    assert not optuna_req.specifier.contains("99.0")


def test_the_private_attributes_read_from_instances_exist(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    trial = study.ask()
    storage = trial.storage
    from optuna.storages._cached_storage import _CachedStorage

    assert isinstance(storage, _CachedStorage), type(storage)
    missing = [a for a in CACHED_STORAGE_ATTRS if not hasattr(storage, a)]
    missing += [a for a in ("_storage", "_study_id") if not hasattr(study, a)]
    missing += [a for a in ("_trial_id", "_cached_frozen_trial") if not hasattr(trial, a)]
    missing += [a for a in ("engine", "scoped_session") if not hasattr(storage._backend, a)]
    assert not missing, f"Optuna {optuna.__version__} has no {', '.join(missing)}"
    info = storage._studies[study._study_id]
    assert isinstance(info.param_distribution, dict)
    assert storage._trial_id_to_study_id_and_number[trial._trial_id] == (study._study_id, 0)


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sqlalchemy.text(sql))]
    finally:
        engine.dispose()


def test_the_rows_written_are_optunas_tables_and_columns(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(storage=url, directions=["maximize", "minimize"])
    trial = study.ask()
    got = suggest_in_one_transaction(
        trial,
        lambda t: (t.suggest_int("bits", 2, 8), t.suggest_categorical("m", ["a", "b"])),
    )
    batch = AttrBatch(study, trial)
    batch.set_user_attr("config", {"bits": got[0], "m": got[1]})
    batch.set_user_attr("note", "ü")
    batch.set_constraint("accuracy >= 90", -2.5)
    batch.flush()
    tid = trial._trial_id
    user = _rows(url, f"SELECT key, value_json FROM trial_user_attributes WHERE trial_id = {tid}")
    assert sorted(user) == [
        ("config", f'{{"bits": {got[0]}, "m": "{got[1]}"}}'),
        ("note", '"\\u00fc"'),  # json.dumps, as Optuna writes it
    ]
    system = _rows(
        url, f"SELECT key, value_json FROM trial_system_attributes WHERE trial_id = {tid}"
    )
    assert system == [("constraints:accuracy >= 90", "-2.5")]
    params = _rows(
        url,
        "SELECT param_name, param_value, distribution_json FROM trial_params "
        f"WHERE trial_id = {tid} ORDER BY param_name",
    )
    assert [(n, v) for n, v, _ in params] == [("bits", got[0]), ("m", ["a", "b"].index(got[1]))]
    assert json.loads(params[0][2]) == {
        "name": "IntDistribution",
        "attributes": {"log": False, "step": 1, "low": 2, "high": 8},
    }


def test_a_changed_contract_is_named(monkeypatch):
    from optuna.storages._rdb.storage import RDBStorage

    def moved(self, session, study_id, trial_id, param_name, value, distribution, prev=None):
        raise AssertionError("not called")

    monkeypatch.setattr(RDBStorage, "_set_trial_param_without_commit", moved)
    monkeypatch.setattr(
        _optuna, "PRIVATE_NAMES", (*_optuna.PRIVATE_NAMES, "optuna.storages._gone._Thing")
    )
    problems = optuna_contract_problems()
    assert problems == [
        "optuna.storages._rdb.storage.RDBStorage._set_trial_param_without_commit(self, "
        "session, trial_id, param_name, param_value_internal, distribution, "
        "previous_distribution) now takes (self, session, study_id, trial_id, param_name, "
        "value, distribution, prev)",
        "optuna.storages._gone._Thing is gone",
    ]


def _suggest(trial):
    return {
        "ratio": trial.suggest_float("ratio", 0.0, 0.9, step=0.05),
        "bits": trial.suggest_int("bits", 2, 8),
        "method": trial.suggest_categorical("method", ["magnitude", "random", "hydra"]),
    }


def _run(url: str) -> list[optuna.trial.FrozenTrial]:
    """Six trials of a seeded TPE study written through the batched paths; the fourth is
    given a constraint twice (a retry: the last value is stored)."""
    study = optuna.create_study(
        study_name=f"contract-{uuid.uuid4().hex[:8]}",
        storage=url,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=5, n_startup_trials=3),
    )
    for i in range(6):
        trial = study.ask()
        config = suggest_in_one_transaction(trial, _suggest)
        batch = AttrBatch(study, trial)
        batch.set_user_attr("config", config)
        batch.set_user_attr("i", i)
        batch.set_constraint("accuracy >= 90", float(i - 3))
        batch.flush()
        if i == 3:
            batch.set_constraint("accuracy >= 90", -9.0)
            batch.flush()
        assert trial._cached_frozen_trial.system_attrs["constraints:accuracy >= 90"] == (
            -9.0 if i == 3 else float(i - 3)
        )
        study.tell(trial, [config["ratio"], config["bits"]])
    return study.get_trials()


def _same(a, b):
    assert len(a) == len(b) == 6
    for x, y in zip(a, b, strict=True):
        assert (x.state, x.values, x.params, x.distributions) == (
            y.state,
            y.values,
            y.params,
            y.distributions,
        )
        assert x.user_attrs == y.user_attrs and x.system_attrs == y.system_attrs
    assert [t.system_attrs["constraints:accuracy >= 90"] for t in a] == [-3, -2, -1, -9, 1, 2]


@pytest.mark.parametrize("broken", ["signature", "name"])
def test_without_the_private_path_the_public_calls_store_the_same_trials(
    tmp_path, monkeypatch, broken
):
    fast = _run(f"sqlite:///{tmp_path}/fast.db")
    monkeypatch.setattr(_optuna, "_PRIVATE_STATE", {})
    if broken == "signature":  # an upgrade adds a parameter (Optuna's own calls still work)
        from optuna.storages._rdb.storage import RDBStorage

        original = RDBStorage._set_trial_param_without_commit

        def added(self, session, trial_id, name, value, dist, previous=None, *, new=None):
            return original(self, session, trial_id, name, value, dist, previous)

        monkeypatch.setattr(RDBStorage, "_set_trial_param_without_commit", added)
    else:  # an upgrade moves a private class (Optuna's own code uses its new home)
        from optuna.storages import _cached_storage

        monkeypatch.delattr(_cached_storage, "_CachedStorage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        slow = _run(f"sqlite:///{tmp_path}/slow.db")
    ours = [w for w in caught if "internals differ" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert issubclass(ours[0].category, RuntimeWarning)
    assert f"optuna{TESTED_OPTUNA}" in str(ours[0].message)
    _same(fast, slow)


def test_the_public_calls_store_on_an_in_memory_study_too():
    # the path of every storage without a database: the same rows as the batched one
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    batch = AttrBatch(study, trial)
    batch.set_user_attr("a", [1, 2])
    batch.set_constraint("c", 1.0)
    batch.flush()
    batch.set_constraint("c", -1.0)
    batch.flush()
    study.tell(trial, [1.0, 2.0])
    (t,) = study.get_trials()
    assert t.user_attrs == {"a": [1, 2]} and t.system_attrs == {"constraints:c": -1.0}
