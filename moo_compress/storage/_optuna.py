"""Optuna's internals: the only place moo-compress reaches into them (a study's storage, a
trial's storage id, the storage's database backend, Optuna's system attributes). Everything
else calls these small functions."""

from __future__ import annotations

from typing import Any

from moo_compress import record

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
    """Collects a running trial's user attributes and writes them in one transaction.

    A complete trial's record is some 30 attributes (the flat copies included); Optuna
    writes each with its own transaction, which costs milliseconds per trial on a database
    server. ``record``'s writers take this in place of the trial (it has
    ``set_user_attr``); :meth:`flush` writes them all at once with the RDB storage's own
    statement for one attribute (Optuna's private ``_set_trial_attr_without_commit``), or
    one by one on other storages, and updates the trial's cached view.

    Args:
        study: The Optuna study holding ``trial``.
        trial: A running Optuna ``Trial``.
    """

    def __init__(self, study, trial) -> None:
        self.study = study
        self.trial = trial
        self.attrs: dict[str, Any] = {}

    def set_user_attr(self, key: str, value: Any) -> None:
        """Queue one attribute (the last value given for a key wins).

        Args:
            key: The attribute's name.
            value: A JSON-serialisable value.
        """
        self.attrs[key] = value

    def flush(self) -> None:
        """Write the queued attributes, then forget them."""
        if not self.attrs:
            return
        backend = _backend_of(self.study)
        if hasattr(backend, "_set_trial_attr_without_commit") and hasattr(
            backend, "scoped_session"
        ):
            from optuna.storages._rdb import models
            from optuna.storages._rdb.storage import _create_scoped_session

            with _create_scoped_session(backend.scoped_session, True) as session:
                for key, value in self.attrs.items():
                    backend._set_trial_attr_without_commit(
                        session, models.TrialUserAttributeModel, trial_id(self.trial), key, value
                    )
            cached = getattr(self.trial, "_cached_frozen_trial", None)
            if cached is not None:
                cached.user_attrs.update(self.attrs)
        else:
            for key, value in self.attrs.items():
                self.trial.set_user_attr(key, value)
        self.attrs = {}


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


__all__ = [
    "heartbeat_ages",
    "close_connections",
    "fail_trial",
    "heartbeat_interval",
    "live_trial",
    "queued_params",
    "record_heartbeat",
    "sampler_generation",
    "storage_of",
    "stored_state",
    "study_id",
    "trial_id",
]
