"""Optuna's internals: the only place moo-compress reaches into them (a study's storage, a
trial's storage id, the storage's database backend, Optuna's system attributes). Everything
else calls these small functions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from moo_compress import record

T = TypeVar("T")

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
    ``_set_trial_attr_without_commit``; on other storages one by one through the trial). The
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
        self.system_attrs: dict[str, float] = {}

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

        from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

        value = float(value)
        if math.isnan(value):
            raise ValueError(f"Attempted to set a constraint for {key!r}, but NaN is not allowed.")
        self.system_attrs[f"{_CONSTRAINTS_KEY}:{key}"] = value

    def flush(self) -> None:
        """Write the queued attributes, then forget them (writing them again is harmless:
        every row is an upsert, so a retry after a lost answer stores the same)."""
        if not self.attrs and not self.system_attrs:
            return
        backend = _backend_of(self.study)
        if hasattr(backend, "_set_trial_attr_without_commit") and hasattr(
            backend, "scoped_session"
        ):
            self._flush_rdb(backend)
            cached = getattr(self.trial, "_cached_frozen_trial", None)
            if cached is not None:
                cached.user_attrs.update(self.attrs)
                cached.system_attrs.update(self.system_attrs)
        else:
            for key, value in self.attrs.items():
                self.trial.set_user_attr(key, value)
            storage = storage_of(self.study)
            for key, value in self.system_attrs.items():
                storage.set_trial_system_attr(trial_id(self.trial), key, value)
            cached = getattr(self.trial, "_cached_frozen_trial", None)
            if cached is not None:
                cached.system_attrs.update(self.system_attrs)
        self.attrs = {}
        self.system_attrs = {}

    def _flush_rdb(self, backend) -> None:
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
            (models.TrialSystemAttributeModel, self.system_attrs),
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

    def set_trial_param(self, trial_id: int, name: str, value: float, distribution) -> None:
        self.queued.append((trial_id, name, value, distribution))

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
    raises, nothing is written. Other threads and trials, and other storages, write as
    usual; a call inside another on the same trial queues into the outer one.

    Args:
        trial: A running Optuna ``Trial``.
        suggest: A function of the trial that calls its ``suggest_*`` methods.

    Returns:
        What ``suggest`` returns.
    """
    from optuna.storages._cached_storage import _CachedStorage

    storage = getattr(trial, "storage", None)
    backend = getattr(storage, "_backend", None)
    if not isinstance(storage, _CachedStorage) or not hasattr(
        backend, "_set_trial_param_without_commit"
    ):
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
        trial: A ``FrozenTrial``.
    """
    return next((v for k, v in trial.system_attrs.items() if k.endswith(":generation")), None)


def heartbeat_ages(study) -> dict[int, float | None]:
    """Seconds since each RUNNING trial's last heartbeat (None: it never beat), by trial id,
    measured by the database's clock as Optuna's stale-trial check does.

    Args:
        study: The Optuna study (a database storage; other storages give ``{}``).
    """
    import sqlalchemy
    import sqlalchemy.orm
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    backend = _backend_of(study)
    engine = getattr(backend, "engine", None)
    if engine is None:
        return {}
    with sqlalchemy.orm.Session(engine) as session:
        now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
        running = (
            session.query(models.TrialModel)
            .options(sqlalchemy.orm.selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study_id(study))
            .all()
        )
        return {
            t.trial_id: (now - t.heartbeats[0].heartbeat).total_seconds() if t.heartbeats else None
            for t in running
        }


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
    "heartbeat_ages",
    "claim_owners",
    "close_connections",
    "fail_trial",
    "fresh_trial",
    "insert_claim",
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
