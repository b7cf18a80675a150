"""Optuna's internals: the only place moo-compress reaches into them (a study's storage, a
trial's storage id, the storage's database backend, Optuna's system attributes). Everything
else calls these small functions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from moo_compress import record

T = TypeVar("T")

#: The Optuna releases whose internals this module was checked against; ``pyproject.toml``
#: pins the same range and ``tests/storage/test_optuna_contract.py`` checks the contract.
TESTED_OPTUNA = ">=5.0,<5.2"

# Optuna's private functions called here, with their parameters in order (the calls pass
# them by position, so a new or moved parameter would silently take another's value).
PRIVATE_SIGNATURES: dict[str, tuple[str, ...]] = {
    "optuna.storages._rdb.storage._create_scoped_session": (
        "scoped_session",
        "ignore_integrity_error",
    ),
    "optuna.storages._rdb.storage.RDBStorage._set_trial_param_without_commit": (
        "self",
        "session",
        "trial_id",
        "param_name",
        "param_value_internal",
        "distribution",
        "previous_distribution",
    ),
    "optuna.storages._rdb.storage.RDBStorage._set_trial_attr_without_commit": (
        "self",
        "session",
        "model_cls",
        "trial_id",
        "key",
        "value",
    ),
    "optuna.storages._rdb.storage.RDBStorage.check_trial_is_updatable": (
        "self",
        "trial_id",
        "trial_state",
    ),
    "optuna.storages._rdb.models.TrialModel.find_or_raise_by_id": (
        "trial_id",
        "session",
        "for_update",
    ),
    # optuna-gp maximizes GPSampler's acquisition function over a finite candidate list
    "optuna.samplers._gp.sampler.GPSampler._optimize_acqf": ("self", "acqf", "best_params"),
    # public, but _HeldParams stands in for it while a trial suggests
    "optuna.storages._base.BaseStorage.set_trial_param": (
        "self",
        "trial_id",
        "param_name",
        "param_value_internal",
        "distribution",
    ),
}

# Optuna's private classes and constants used here (no signature to check).
PRIVATE_NAMES = (
    "optuna.storages._cached_storage._CachedStorage",
    "optuna.study._constrained_optimization._CONSTRAINTS_KEY",
    # mo-asha's shadow study places rung-0 results in NSGA-II's generations
    "optuna.samplers._ga.BaseGASampler",
    "optuna.samplers._ga.BaseGASampler._get_generation_key",
)

# The rows written here directly: each table's columns (by its Optuna model), and the
# columns of its unique index that the multi-row upsert names (``ON CONFLICT``).
PRIVATE_TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "TrialUserAttributeModel": (
        "trial_user_attributes",
        ("trial_id", "key", "value_json"),
        ("trial_id", "key"),
    ),
    "TrialSystemAttributeModel": (
        "trial_system_attributes",
        ("trial_id", "key", "value_json"),
        ("trial_id", "key"),
    ),
    "TrialParamModel": (
        "trial_params",
        ("trial_id", "param_name", "param_value", "distribution_json"),
        ("trial_id", "param_name"),
    ),
    # the claims of workers (insert_claim): one row per key, decided by the unique index
    "StudySystemAttributeModel": (
        "study_system_attributes",
        ("study_id", "key", "value_json"),
        ("study_id", "key"),
    ),
}

# The attributes of a ``_CachedStorage`` read by :func:`suggest_in_one_transaction`.
CACHED_STORAGE_ATTRS = ("_backend", "_lock", "_studies", "_trial_id_to_study_id_and_number")


def _lookup(dotted: str):
    """The object named ``dotted`` (a module path, then attributes), or None."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj
    return None


def optuna_contract_problems() -> list[str]:
    """What differs, in the installed Optuna, from the internals this module uses: one line
    per difference, naming it ([] when everything matches :data:`TESTED_OPTUNA`'s releases).

    Checks that each private name exists, that each private function takes its parameters in
    the order the calls here pass them, that ``_CONSTRAINTS_KEY`` is ``"constraints"`` (the
    rows Optuna's samplers read) and that each table written directly has the columns and
    unique index written.
    """
    import inspect

    problems = []
    for dotted, expected in PRIVATE_SIGNATURES.items():
        fn = _lookup(dotted)
        if fn is None:
            problems.append(f"{dotted} is gone")
            continue
        try:
            got = tuple(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            got = ()
        if got != expected:
            problems.append(f"{dotted}({', '.join(expected)}) now takes ({', '.join(got)})")
    for dotted in PRIVATE_NAMES:
        if _lookup(dotted) is None:
            problems.append(f"{dotted} is gone")
    key = _lookup("optuna.study._constrained_optimization._CONSTRAINTS_KEY")
    if key is not None and key != "constraints":
        problems.append(f"constraint values are now stored under {key!r}, not 'constraints'")
    for model, (table, columns, unique) in PRIVATE_TABLES.items():
        cls = _lookup(f"optuna.storages._rdb.models.{model}")
        if cls is None:
            problems.append(f"optuna.storages._rdb.models.{model} is gone")
            continue
        t = cls.__table__
        if t.name != table:
            problems.append(f"{model} now writes table {t.name!r}, not {table!r}")
        missing = [c for c in columns if c not in t.columns]
        if missing:
            problems.append(f"table {table!r} has no column {', '.join(missing)}")
        keys = {
            tuple(c.name for c in u.columns)
            for u in list(t.constraints) + list(t.indexes)
            if getattr(u, "unique", True) and hasattr(u, "columns")
        }
        if unique not in keys:
            problems.append(f"table {table!r} has no unique index on ({', '.join(unique)})")
    return problems


_PRIVATE_STATE: dict[str, Any] = {}


def _private_ok(extra: list[str] | None = None) -> bool:
    """True when Optuna's internals are those this module was written for; otherwise warns
    once (naming what differs) and answers False, and the callers write through Optuna's
    public calls instead.

    Args:
        extra: Differences found at run time (e.g. an attribute missing on an instance).
    """
    if "problems" not in _PRIVATE_STATE:
        _PRIVATE_STATE["problems"] = optuna_contract_problems()
    problems = _PRIVATE_STATE["problems"] + (extra or [])
    if problems and not _PRIVATE_STATE.get("warned"):
        import warnings

        import optuna

        _PRIVATE_STATE["warned"] = True
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        warnings.warn(
            f"Optuna {optuna.__version__}'s internals differ from those moo-compress was tested "
            f"with (optuna{TESTED_OPTUNA}): {problems[0]}{more}; trial attributes and "
            "parameters are written with Optuna's public calls, one by one (slower, same "
            "results)",
            RuntimeWarning,
            stacklevel=3,
        )
    return not problems


# -- Optuna's internals: the only place moo-compress reaches into them --------------------
# Optuna keeps a trial's storage id, a study's storage (and its database backend) and a
# few system attributes private; every use of them is one of these functions.


def trial_id(trial) -> int:
    """The storage id of an Optuna ``Trial`` or ``FrozenTrial`` (Optuna's private
    ``_trial_id``): unique in the storage, unlike the trial's ``number`` (per study).

    Args:
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    return trial._trial_id


def storage_of(study):
    """The storage object behind ``study`` (Optuna's private ``study._storage``: usually
    Optuna's cache in front of an ``RDBStorage``).

    Args:
        study: An Optuna study.
    """
    return study._storage


def _backend_of(study):
    """The storage under Optuna's cache of ``study`` (the ``RDBStorage``), or the storage
    itself when it has no cache."""
    storage = storage_of(study)
    return getattr(storage, "_backend", storage)


def study_id(study) -> int:
    """The storage id of ``study`` (Optuna's private ``study._study_id``).

    Args:
        study: An Optuna study.
    """
    return study._study_id


def live_trial(study, trial):
    """An Optuna ``Trial`` of ``study`` to write to, for its ``FrozenTrial`` ``trial``.

    Args:
        study: The Optuna study holding ``trial``.
        trial: A ``FrozenTrial`` (e.g. from ``study.get_trials``).
    """
    import optuna

    return optuna.trial.Trial(study, trial_id(trial))


def stored_state(study, trial):
    """The state of ``trial`` as stored now (another process may have finished it since
    this one last looked).

    Args:
        study: The Optuna study holding ``trial``.
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    return storage_of(study).get_trial(trial_id(trial)).state


def heartbeat_interval(study) -> int | None:
    """Seconds between heartbeats of ``study``'s running trials (None: heartbeats off).

    Args:
        study: An Optuna study.
    """
    return getattr(storage_of(study), "get_heartbeat_interval", lambda: None)()


def record_heartbeat(study, trial) -> None:
    """Record a heartbeat of the running ``trial`` now.

    Args:
        study: The Optuna study holding ``trial``; its storage has heartbeats on.
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    storage_of(study).record_heartbeat(trial_id(trial))


def fail_trial(study, trial, reason: str) -> None:
    """Record ``reason`` and set ``trial`` to ``FAIL`` directly in the storage (no Optuna
    ``Trial`` is made and ``study.tell`` is not called).

    Args:
        study: The Optuna study holding ``trial``.
        trial: The running trial (a ``FrozenTrial``).
        reason: The trial record's failure reason (see :mod:`moo_compress.record`).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: The trial finished meanwhile.
    """
    from optuna.trial import TrialState

    storage = storage_of(study)
    storage.set_trial_user_attr(trial_id(trial), record.FAIL_REASON, reason)
    storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)


def close_connections(study) -> None:
    """Close every pooled database connection of ``study``'s storage, ignoring errors (an
    interrupt that hit a write halfway can leave a connection inside a transaction that
    holds SQLite's lock).

    Args:
        study: An Optuna study.
    """
    import contextlib

    backend = _backend_of(study)
    with contextlib.suppress(Exception):
        backend.scoped_session.remove()
        backend.engine.dispose()


class AttrBatch:
    """Collects a running trial's user attributes and constraint values and writes them in
    one transaction.

    A complete trial's record is some 30 attributes (the flat copies included); Optuna
    writes each with its own transaction (a read of the trial and an upsert, and for a
    constraint a read of every system attribute too), which costs milliseconds per trial on
    a database server. ``record``'s writers take this in place of the trial (it has
    ``set_user_attr``); :meth:`flush` checks once that the trial can still be updated and
    writes every attribute with one multi-row upsert per table (PostgreSQL and SQLite; on
    other databases with the RDB storage's own statement for one attribute, Optuna's private
    ``_set_trial_attr_without_commit``; on other storages, and when Optuna's internals differ
    from those tested (:func:`optuna_contract_problems`: one warning), one by one through
    Optuna's public calls). The
    rows are exactly those Optuna writes: ``json.dumps`` of each value, constraints as the
    system attribute ``constraints:<label>`` that ``Trial.set_constraint`` sets. Unlike
    ``Trial.set_constraint``, which keeps a constraint's first value, a batch stores the
    value it is given (on every storage), so a re-queued trial whose system attributes were
    copied from a failed one gets its own.

    Args:
        study: The Optuna study holding ``trial``.
        trial: A running Optuna ``Trial``.
    """

    def __init__(self, study, trial) -> None:
        self.study = study
        self.trial = trial
        self.attrs: dict[str, Any] = {}
        self.constraints: dict[str, float] = {}

    def set_user_attr(self, key: str, value: Any) -> None:
        """Queue one attribute (the last value given for a key wins).

        Args:
            key: The attribute's name.
            value: A JSON-serialisable value.
        """
        self.attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Queue one constraint value, as ``optuna.Trial.set_constraint`` stores it.

        Args:
            key: The constraint's label.
            value: Its value (<= 0: met); a number, not NaN.

        Raises:
            ValueError: ``value`` is NaN.
        """
        import math

        value = float(value)
        if math.isnan(value):
            raise ValueError(f"Attempted to set a constraint for {key!r}, but NaN is not allowed.")
        self.constraints[key] = value

    def flush(self) -> None:
        """Write the queued attributes, then forget them (writing them again is harmless:
        every row is an upsert, so a retry after a lost answer stores the same)."""
        if not self.attrs and not self.constraints:
            return
        backend = _backend_of(self.study)
        rdb = hasattr(backend, "_set_trial_attr_without_commit") and hasattr(
            backend, "scoped_session"
        )
        if rdb and _private_ok():
            from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

            system = {f"{_CONSTRAINTS_KEY}:{k}": v for k, v in self.constraints.items()}
            self._flush_rdb(backend, system)
            cached = getattr(self.trial, "_cached_frozen_trial", None)
            if cached is not None:
                cached.user_attrs.update(self.attrs)
                cached.system_attrs.update(system)
        else:
            for key, value in self.attrs.items():
                self.trial.set_user_attr(key, value)
            for key, value in self.constraints.items():
                self._set_constraint_one(key, value)
        self.attrs = {}
        self.constraints = {}

    def _set_constraint_one(self, label: str, value: float) -> None:
        """One constraint value through Optuna's public ``Trial.set_constraint``, then, if
        the trial already had a value for ``label`` (Optuna keeps the first: a re-queued
        trial carries the failed one's), that value's row overwritten with ``value``."""
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The constraint value is ignored")
            self.trial.set_constraint(label, value)
        storage = storage_of(self.study)
        for key, old in storage.get_trial_system_attrs(trial_id(self.trial)).items():
            if key.partition(":")[2] == label and old != value:
                storage.set_trial_system_attr(trial_id(self.trial), key, value)
                cached = getattr(self.trial, "_cached_frozen_trial", None)
                if cached is not None:
                    cached.system_attrs[key] = value

    def _flush_rdb(self, backend, system_attrs: dict[str, float]) -> None:
        import json
        import sqlite3

        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        tid = trial_id(self.trial)
        dialect = backend.engine.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
            from sqlalchemy.dialects.sqlite import insert
        else:
            insert = None
        tables = (
            (models.TrialUserAttributeModel, self.attrs),
            (models.TrialSystemAttributeModel, system_attrs),
        )
        with _create_scoped_session(backend.scoped_session, False) as session:
            if insert is None:
                for model_cls, attrs in tables:
                    for key, value in attrs.items():
                        backend._set_trial_attr_without_commit(session, model_cls, tid, key, value)
                return
            trial = models.TrialModel.find_or_raise_by_id(tid, session)
            backend.check_trial_is_updatable(tid, trial.state)
            for model_cls, attrs in tables:
                if not attrs:
                    continue
                rows = [
                    {"trial_id": tid, "key": key, "value_json": json.dumps(value)}
                    for key, value in attrs.items()
                ]
                stmt = insert(model_cls).values(rows)
                session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[model_cls.trial_id, model_cls.key],
                        set_={"value_json": stmt.excluded.value_json},
                    )
                )


class _HeldParams:
    """Stands in for a trial's storage while it suggests: parameters are queued, every
    other call goes to the storage."""

    def __init__(self, storage) -> None:
        self._storage = storage
        self.queued: list[tuple[int, str, float, Any]] = []

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution
    ) -> None:
        self.queued.append((trial_id, param_name, param_value_internal, distribution))

    def __getattr__(self, name: str):
        return getattr(self._storage, name)


def suggest_in_one_transaction(trial, suggest: Callable[[Any], T]) -> T:
    """``suggest(trial)``, with the parameters it suggests written in one transaction.

    ``Trial.suggest_*`` writes each parameter with its own transaction (a read of the trial
    and an insert). Here the trial's own storage handle (``Trial.storage``, which only this
    trial uses; samplers read the study's) queues the parameters while ``suggest`` runs (the
    trial keeps each value in its own cache, as Optuna does); then every parameter is
    written at once with the RDB storage's own statement
    (``_set_trial_param_without_commit``), checked against the study's distributions as
    Optuna checks them, and a database error is raised, never ignored. When ``suggest``
    raises, nothing is written. When Optuna's internals differ from those tested
    (:func:`optuna_contract_problems`), each parameter is written by Optuna's own call
    instead, after one warning. Other threads and trials, and other storages, write as
    usual; a call inside another on the same trial queues into the outer one.

    Args:
        trial: A running Optuna ``Trial``.
        suggest: A function of the trial that calls its ``suggest_*`` methods.

    Returns:
        What ``suggest`` returns.
    """
    storage = getattr(trial, "storage", None)
    backend = getattr(storage, "_backend", None)
    if not hasattr(backend, "_set_trial_param_without_commit") or not _private_ok():
        return suggest(trial)  # not a database storage, or Optuna's internals differ
    from optuna.storages._cached_storage import _CachedStorage

    if not isinstance(storage, _CachedStorage):
        return suggest(trial)
    missing = [a for a in CACHED_STORAGE_ATTRS if not hasattr(storage, a)]
    if missing and not _private_ok([f"_CachedStorage has no {', '.join(missing)}"]):
        return suggest(trial)
    held = _HeldParams(storage)
    trial.storage = held
    try:
        out = suggest(trial)
    finally:
        trial.storage = storage
    if held.queued:
        from optuna.storages._rdb.storage import _create_scoped_session

        with storage._lock:
            study = storage._trial_id_to_study_id_and_number[held.queued[0][0]][0]
            known = storage._studies[study].param_distribution
            with _create_scoped_session(backend.scoped_session, False) as session:
                for trial_id, name, value, distribution in held.queued:
                    backend._set_trial_param_without_commit(
                        session, trial_id, name, value, distribution, known.get(name)
                    )
            for _, name, _, distribution in held.queued:
                known.setdefault(name, distribution)
    return out


def queued_params(trial) -> dict[str, Any]:
    """The parameters a WAITING ``trial`` was queued with (``study.enqueue_trial``), which
    Optuna keeps in its ``fixed_params`` system attribute ({} when none).

    Args:
        trial: A ``FrozenTrial``.
    """
    return trial.system_attrs.get("fixed_params", {})


def sampler_generation(trial) -> int | None:
    """The generation Optuna's NSGA-II sampler recorded with ``trial`` (its system
    attribute ``<sampler>:generation``), or None.

    Args:
        trial: A ``FrozenTrial`` (or a :class:`~moo_compress.record.TrialRecord`, which
            carries it).
    """
    if isinstance(trial, record.TrialRecord):
        return trial.sampler_generation
    return next((v for k, v in trial.system_attrs.items() if k.endswith(":generation")), None)


def stored_constraints(trial) -> list[float] | None:
    """The constraint values Optuna's samplers read from ``trial`` (what
    ``Trial.set_constraint`` stored, its system attribute ``constraints``), or None.

    Args:
        trial: A ``FrozenTrial``.
    """
    key = _lookup("optuna.study._constrained_optimization._CONSTRAINTS_KEY") or "constraints"
    values = trial.system_attrs.get(key)
    return None if values is None else [float(v) for v in values]


def gp_sampler_over(candidates: list[dict] | None, **kwargs):
    """Optuna's ``GPSampler`` whose acquisition function is maximized over ``candidates``
    (parameter dicts of the study it samples for; every one evaluated, the best taken)
    instead of Optuna's sampled and locally optimized points, by overriding its private
    ``_optimize_acqf``. Without candidates, or on an Optuna whose internals differ (a
    warning says so once), the plain ``GPSampler``.

    Args:
        candidates: The points to choose among (None: Optuna's own optimizer).
        **kwargs: ``GPSampler``'s arguments.
    """
    import numpy as np
    import optuna

    if not candidates or not _private_ok():
        return optuna.samplers.GPSampler(**kwargs)

    class _OverCandidates(optuna.samplers.GPSampler):
        def _optimize_acqf(self, acqf, best_params):
            x = acqf.search_space.get_normalized_params(candidates, candidates)
            scores = np.concatenate(
                [acqf.eval_acqf_no_grad(x[i : i + 4096]) for i in range(0, len(x), 4096)]
            )
            return x[int(np.argmax(scores))]

    return _OverCandidates(**kwargs)


def ga_generation_attrs(sampler, generation: int) -> dict[str, int]:
    """System attributes that place a trial in ``generation`` of a genetic-algorithm
    sampler such as Optuna's ``NSGAIISampler``: its private key ``<Sampler>:generation``
    (``BaseGASampler._get_generation_key``), which the sampler reads to group its COMPLETE
    trials into populations; pass them to ``optuna.trial.create_trial(system_attrs=...)``.

    Args:
        sampler: An Optuna genetic-algorithm sampler (a ``BaseGASampler``).
        generation: The generation, from 0.

    Raises:
        TypeError: ``sampler`` is not one.
    """
    from optuna.samplers._ga import BaseGASampler

    if not isinstance(sampler, BaseGASampler):
        raise TypeError(f"{type(sampler).__name__} is not a genetic-algorithm sampler")
    return {type(sampler)._get_generation_key(): int(generation)}


def heartbeat_ages(study) -> dict[int, float | None]:
    """Seconds since each RUNNING trial's last heartbeat (None: it never beat), by trial id,
    measured by the database's clock as Optuna's stale-trial check does.

    Args:
        study: The Optuna study (a database storage; other storages give ``{}``).
    """
    import sqlalchemy

    backend = _backend_of(study)
    engine = getattr(backend, "engine", None)
    if engine is None:
        return {}
    # the tables of Optuna's schema (no private model class): trials and their heartbeats
    query = sqlalchemy.text(
        "SELECT t.trial_id, h.heartbeat FROM trials t "
        "LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
        "WHERE t.study_id = :study AND t.state = 'RUNNING'"
    ).columns(
        sqlalchemy.column("trial_id", sqlalchemy.Integer),
        sqlalchemy.column("heartbeat", sqlalchemy.DateTime),
    )
    with engine.connect() as conn:
        now = conn.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar()
        now = now.replace(tzinfo=None)
        rows = conn.execute(query, {"study": study_id(study)}).all()
    return {tid: (now - beat).total_seconds() if beat is not None else None for tid, beat in rows}


# -- claims: uniquely keyed rows of the study's system attributes ------------------------
# Workers claim a configuration, a (configuration, rung) or a budget slot by writing a row
# of Optuna's study system attributes table, which has a unique (study_id, key) index: of
# several processes that insert the same key, the database lets exactly one succeed. A
# row's value is the storage id of the claiming trial (JSON), or null once released. The
# rules (which owner still holds a claim) are in :mod:`moo_compress.storage._claims`.
_CLAIM_LOCK = threading.Lock()  # for storages without a database (one process: memory)


def _claim_table(study):
    """Optuna's study system attributes model and the RDB backend, or (None, storage) for
    a storage without a database."""
    backend = _backend_of(study)
    if not hasattr(backend, "scoped_session"):
        return None, backend
    from optuna.storages._rdb import models

    return models.StudySystemAttributeModel, backend


def _owner(value_json: str | None) -> int | None:
    import json

    value = json.loads(value_json) if value_json is not None else None
    return int(value) if isinstance(value, int) else None


def insert_claim(study, key: str, owner: int) -> int | None:
    """Write the claim ``key`` of ``study`` for the trial ``owner`` unless a row with that
    key exists (the database's unique index decides between racing processes); return the
    owner stored now (``owner`` when this call or an earlier one of the same trial won;
    None when the row is released). Repeating the call stores nothing new.

    Args:
        study: The Optuna study.
        key: The claim's key (a study system attribute, at most 512 characters).
        owner: The storage id of the claiming trial.
    """
    import json

    model, backend = _claim_table(study)
    if model is None:
        with _CLAIM_LOCK:
            attrs = backend.get_study_system_attrs(study_id(study))
            if key not in attrs:
                backend.set_study_system_attr(study_id(study), key, owner)
                return owner
            return attrs[key] if isinstance(attrs[key], int) else None
    import sqlite3

    import sqlalchemy
    from sqlalchemy.exc import IntegrityError

    row = {"study_id": study_id(study), "key": key, "value_json": json.dumps(owner)}
    read = sqlalchemy.select(model.value_json).where(
        model.study_id == study_id(study), model.key == key
    )
    dialect = backend.engine.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert
    else:
        insert = None
    session = backend.scoped_session()
    try:
        if insert is not None:  # one transaction: insert unless there, read who has it
            stmt = (
                insert(model)
                .values(row)
                .on_conflict_do_nothing(index_elements=[model.study_id, model.key])
            )
            session.execute(stmt)
            value = session.execute(read).scalar_one()
            session.commit()
            return _owner(value)
        try:
            session.add(model(**row))
            session.commit()
        except IntegrityError:  # the key is there: another trial (or this one before) has it
            session.rollback()
        value = session.execute(read).scalar_one()
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
    return _owner(value)


def replace_claim(study, key: str, old: int | None, new: int | None) -> bool:
    """Set the owner of the claim ``key`` to ``new`` only if it is ``old`` now (one
    compare-and-set statement: of several processes replacing the same owner, one
    succeeds); ``new`` None releases the claim.

    Args:
        study: The Optuna study.
        key: The claim's key (its row exists: :func:`insert_claim`).
        old: The owner expected now (None: released).
        new: The new owner's trial storage id (None: release).

    Returns:
        Whether the row was changed.
    """
    import json

    model, backend = _claim_table(study)
    if model is None:
        with _CLAIM_LOCK:
            attrs = backend.get_study_system_attrs(study_id(study))
            current = attrs.get(key) if isinstance(attrs.get(key), int) else None
            if key not in attrs or current != old:
                return False
            backend.set_study_system_attr(study_id(study), key, new)
            return True
    import sqlalchemy

    session = backend.scoped_session()
    try:
        changed = session.execute(
            sqlalchemy.update(model)
            .where(
                model.study_id == study_id(study),
                model.key == key,
                model.value_json == json.dumps(old),
            )
            .values(value_json=json.dumps(new))
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
    return changed == 1


def claim_owners(study, prefix: str) -> dict[str, tuple[int | None, Any]]:
    """Every claim of ``study`` whose key starts with ``prefix``: key -> (owner's storage
    id, the owner's state as stored now), both None for a released claim (the state is None
    too when the owner trial is gone). One read of the claims and one of their owners.

    Args:
        study: The Optuna study.
        prefix: The keys' common start (``claim:slot:``).
    """
    from optuna.trial import TrialState

    model, backend = _claim_table(study)
    if model is None:
        with _CLAIM_LOCK:
            attrs = backend.get_study_system_attrs(study_id(study))
        owners = {
            k: (v if isinstance(v, int) else None) for k, v in attrs.items() if k.startswith(prefix)
        }
        states = {}
        for tid in {v for v in owners.values() if v is not None}:
            states[tid] = storage_of(study).get_trial(tid).state
        return {k: (v, states.get(v)) for k, v in owners.items()}
    import sqlalchemy
    from optuna.storages._rdb import models

    session = backend.scoped_session()
    try:
        rows = session.execute(
            sqlalchemy.select(model.key, model.value_json).where(
                model.study_id == study_id(study), model.key.startswith(prefix, autoescape=True)
            )
        ).all()
        owners = {k: _owner(v) for k, v in rows}
        ids = sorted({v for v in owners.values() if v is not None})
        states = {}
        if ids:
            states = dict(
                session.execute(
                    sqlalchemy.select(models.TrialModel.trial_id, models.TrialModel.state).where(
                        models.TrialModel.trial_id.in_(ids),
                        models.TrialModel.study_id == study_id(study),
                    )
                ).all()
            )
        session.commit()
    finally:
        session.close()
    return {k: (v, TrialState(states[v]) if v in states else None) for k, v in owners.items()}


def fresh_trial(study, storage_id: int):
    """The trial of ``study`` with this storage id as stored now (not Optuna's cached view),
    or None when the study has none (a claim copied with the study from another storage
    names a trial that is not its own).

    Args:
        study: The Optuna study holding it.
        storage_id: The trial's storage id.
    """
    import optuna

    backend = _backend_of(study)
    try:
        trial = backend.get_trial(storage_id)
        own = backend.get_trial_id_from_study_id_trial_number(study_id(study), trial.number)
    except (KeyError, optuna.exceptions.OptunaError):
        return None
    return trial if own == storage_id else None


__all__ = [
    "AttrBatch",
    "CACHED_STORAGE_ATTRS",
    "PRIVATE_NAMES",
    "PRIVATE_SIGNATURES",
    "PRIVATE_TABLES",
    "TESTED_OPTUNA",
    "optuna_contract_problems",
    "heartbeat_ages",
    "claim_owners",
    "close_connections",
    "fail_trial",
    "fresh_trial",
    "insert_claim",
    "ga_generation_attrs",
    "heartbeat_interval",
    "live_trial",
    "queued_params",
    "record_heartbeat",
    "replace_claim",
    "sampler_generation",
    "storage_of",
    "stored_state",
    "study_id",
    "suggest_in_one_transaction",
    "trial_id",
]
