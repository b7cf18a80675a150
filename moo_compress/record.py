"""The trial record: what moo-compress stores with each Optuna trial, written and read here only.

Every trial of a moo-compress study carries these Optuna user attributes (their names and
JSON shapes are fixed: studies already on disk must keep loading):

``config``
    The full pipeline configuration (a dict), set before the trial is evaluated.
``config_key``
    Its identity (:meth:`moo_compress.space.SearchSpace.config_key`), written just after
    ``config``: a running trial with a ``config_key`` has a live process behind it.
``worker``
    The id of the ``moo-compress worker`` process that claimed the trial (absent for the
    trials of a ``search``'s own driver).
``generation``
    The pymoo generation that proposed the trial (``pymoo-nsga2`` only).
``objectives``
    Complete trials: every measured objective value by name (validation split), the
    optimized ones and the recorded ones; the trial's Optuna ``values`` are the optimized
    ones in the study's objective order.
``result``
    Complete trials: ``{"technique": str, "eval_seconds": float, "artifact_sha256": str}``
    (of the ``.mcz`` artifact); :func:`result` adds ``"details"``: ``{objective: details}``
    (per-corruption errors, deployment figures...), stored as ``details``.
``constraints``
    Complete trials of a study with ``constraints``: each constraint's value by its label
    (``"accuracy >= 97"``), Optuna's convention: <= 0 when satisfied, else by how much it
    is violated (in the objective's unit; a fraction for relative bounds).
``violation``
    Complete trials of a study with ``constraints``: the sum of the positive constraint
    values (0.0: feasible). Infeasible trials stay out of the archive, the hypervolume and
    ``export``.
``rung``
    Multi-fidelity studies (``mo-asha``): ``{"rung": r, "top": R, "promoted_from": n}``,
    the rung the trial measured (0 = the cheapest, ``R`` = the full evaluation) and the
    trial of the rung below it (None at rung 0); below the top rung also ``"note"``, why
    the trial is PRUNED and when its configuration goes on. A trial below the top rung is
    PRUNED: its ``objectives`` are the values known at that rung (measured there or reused
    from below); a later trial whose ``promoted_from`` names it took its configuration on.
``fail_reason``
    Failed trials: one line. A proposal that was never evaluated starts with
    :data:`INTERRUPTED`, :data:`DUPLICATE`, :data:`SKIPPED` or :data:`ABANDONED`; any other
    reason is an evaluation that failed (``<ExceptionType>: <message>``).

Flat copies for Optuna's own tools (optuna-dashboard lists, sorts and colours trials by
them; ``study.trials_dataframe()`` has one column each): ``obj_<name>`` (every finite
objective value), ``technique``, ``arch`` and ``eval_seconds`` of complete trials; the
optimized values are also the trial's Optuna ``values``, named by ``set_metric_names``.

No attribute is longer than 1,024 characters of JSON (optuna-dashboard cuts longer ones):
a longer value (``config``, ``objectives``, ``constraints``; the per-objective ``details``
of a complete trial, stored apart from ``result``) is split into ``<name>.0``, ``<name>.1``...
and ``<name>.parts`` (:mod:`moo_compress._utils.attrs`). Readers accept both forms, and
studies written before (``details`` inside ``result``).

Writers take an Optuna ``Trial`` (anything with ``set_user_attr``); readers take a
``FrozenTrial`` or a ``Trial`` (anything with ``user_attrs``). The study-level attributes
(``moo_compress``, ``budget``, ``hv/<n>``) are described in :mod:`moo_compress.storage`.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from moo_compress._utils.attrs import get_json, has_json, put_json

__all__ = [
    "ABANDONED",
    "DUPLICATE",
    "FAIL_REASON",
    "INTERRUPTED",
    "SKIPPED",
    "TrialRecord",
    "config",
    "config_key",
    "constraints",
    "evaluation_seconds",
    "fail_reason",
    "generation",
    "has_config",
    "has_config_key",
    "has_objectives",
    "is_feasible",
    "is_worker_trial",
    "objectives",
    "read",
    "result",
    "violation",
    "rung",
    "write_config",
    "write_constraints",
    "write_fail_reason",
    "write_generation",
    "write_result",
    "write_rung",
    "worker",
    "write_worker",
]

# -- attribute names (private: use the functions below) --------------------------------
_CONFIG = "config"
_CONFIG_KEY = "config_key"
_WORKER = "worker"
_GENERATION = "generation"
_OBJECTIVES = "objectives"
_RESULT = "result"
_DETAILS = "details"
_OBJ_PREFIX = "obj_"
_CONSTRAINTS = "constraints"
_VIOLATION = "violation"
_RUNG = "rung"
FAIL_REASON = "fail_reason"
"""Name of the failure attribute, for :mod:`moo_compress.storage`, which fails a trial
through the storage itself (without an Optuna ``Trial``)."""

# -- failure reasons of proposals that were never evaluated ------------------------------
INTERRUPTED = "interrupted: the process stopped while the trial was running"
DUPLICATE = "duplicate"
"""Prefix: the configuration was already evaluated (or is running in an earlier trial)."""
SKIPPED = "skipped"
"""Prefix: a worker's proposal not run because running trials already meet the budget."""
ABANDONED = "abandoned"
"""Prefix: the trial's worker stopped before its first heartbeat."""
_NOT_EVALUATED = (INTERRUPTED, DUPLICATE, SKIPPED, ABANDONED)


# -- writers -----------------------------------------------------------------------------
def write_rung(
    trial,
    rung: int,
    top: int,
    promoted_from: int | None,
    note: str | None = None,
    finetune_epochs: int | None = None,
) -> None:
    """Record the fidelity rung a multi-fidelity trial measures.

    Args:
        trial: The running Optuna trial.
        rung: Its rung (0 = the cheapest).
        top: The top rung (the full evaluation).
        promoted_from: The trial number of the same configuration's rung below (None at 0).
        note: Why a lower rung's trial ends PRUNED and when its configuration goes on
            (default None).
        finetune_epochs: The rung pauses the build's last fine-tuning run after this many
            epochs (default None: the rung's model is fine-tuned in full).
    """
    entry = {"rung": rung, "top": top, "promoted_from": promoted_from}
    if note:
        entry["note"] = note
    if finetune_epochs is not None:
        entry["finetune_epochs"] = int(finetune_epochs)
    trial.set_user_attr(_RUNG, entry)


def rung(trial) -> dict[str, Any] | None:
    """``{"rung", "top", "promoted_from"}`` of a multi-fidelity trial (None otherwise).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return trial.user_attrs.get(_RUNG)


def write_worker(trial, worker: str) -> None:
    """Record the id of the worker process that claimed ``trial``.

    Args:
        trial: The running Optuna trial.
        worker: The worker's id (``--worker-id``, or ``<host>-<pid>``).
    """
    trial.set_user_attr(_WORKER, worker)


def write_config(trial, config: dict[str, Any], key: str) -> None:
    """Record the configuration ``trial`` evaluates, then its key (in this order: a running
    trial with a key always has its configuration).

    Args:
        trial: The running Optuna trial.
        config: The full pipeline configuration.
        key: ``config``'s identity (``SearchSpace.config_key``).
    """
    put_json(trial.set_user_attr, _CONFIG, config)
    trial.set_user_attr(_CONFIG_KEY, key)


def write_generation(trial, generation: int) -> None:
    """Record the pymoo generation that proposed ``trial``.

    Args:
        trial: The running Optuna trial.
        generation: The generation number.
    """
    trial.set_user_attr(_GENERATION, generation)


def write_fail_reason(trial, reason: str) -> None:
    """Record why ``trial`` failed or was not evaluated (before it is told ``FAIL``).

    Args:
        trial: The running Optuna trial.
        reason: One line; see the module docstring for the prefixes of proposals never
            evaluated.
    """
    trial.set_user_attr(FAIL_REASON, reason)


def write_result(trial, result, *, arch: str | None = None) -> None:
    """Record a successful evaluation: ``objectives``, the flat copies, ``details``, then
    ``result`` (before the trial is told its values).

    Args:
        trial: The running Optuna trial.
        result: The evaluation's ``TrialResult`` (``values``, ``technique``, ``seconds``,
            ``artifact``, ``details``; a rung's paused model also its ``finetune_epochs`` and
            ``checkpoint``, recorded by epochs and SHA-256).
        arch: The model's architecture, stored flat (default None: not stored).
    """
    put_json(trial.set_user_attr, _OBJECTIVES, result.values)
    for name, value in result.values.items():
        if math.isfinite(value):
            trial.set_user_attr(f"{_OBJ_PREFIX}{name}", float(value))
    trial.set_user_attr("technique", result.technique)
    if arch is not None:
        trial.set_user_attr("arch", arch)
    trial.set_user_attr("eval_seconds", float(result.seconds))
    put_json(trial.set_user_attr, _DETAILS, result.details)
    entry = {
        "technique": result.technique,
        "eval_seconds": result.seconds,
        "artifact_sha256": hashlib.sha256(result.artifact).hexdigest(),
    }
    if getattr(result, "checkpoint", None) is not None:  # a paused fine-tuning run
        entry["finetune_epochs"] = int(result.finetune_epochs)
        entry["checkpoint_sha256"] = hashlib.sha256(result.checkpoint).hexdigest()
    trial.set_user_attr(_RESULT, entry)


def write_constraints(trial, values: dict[str, float]) -> None:
    """Record each constraint's value and the total violation (before the trial is told).

    Args:
        trial: The running Optuna trial.
        values: Constraint label -> value (<= 0: satisfied), in the study's order.
    """
    put_json(trial.set_user_attr, _CONSTRAINTS, dict(values))
    trial.set_user_attr(_VIOLATION, float(sum(max(0.0, v) for v in values.values())))


# -- readers -----------------------------------------------------------------------------
def has_config(trial) -> bool:
    """Whether ``trial`` recorded its configuration.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return has_json(trial.user_attrs, _CONFIG)


def has_config_key(trial) -> bool:
    """Whether ``trial`` recorded its configuration's key (a live process claimed it).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return _CONFIG_KEY in trial.user_attrs


def config(trial, default: Any = None) -> Any:
    """The configuration recorded with ``trial``, or ``default``.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
        default: Returned when none was recorded.
    """
    return get_json(trial.user_attrs, _CONFIG, default)


def config_key(trial, default: Any = None) -> Any:
    """The configuration key recorded with ``trial``, or ``default``.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
        default: Returned when none was recorded.
    """
    return trial.user_attrs.get(_CONFIG_KEY, default)


def worker(trial) -> str | None:
    """The id of the ``moo-compress worker`` process that claimed ``trial`` (None: the
    search's own).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return trial.user_attrs.get(_WORKER)


def is_worker_trial(trial) -> bool:
    """Whether a ``moo-compress worker`` process claimed ``trial``.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return _WORKER in trial.user_attrs


def generation(trial) -> int | None:
    """The pymoo generation recorded with ``trial`` (None: not a pymoo trial).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return trial.user_attrs.get(_GENERATION)


def fail_reason(trial, default: Any = "") -> Any:
    """Why ``trial`` failed, or ``default`` when no reason was recorded.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
        default: Returned when none was recorded.
    """
    return trial.user_attrs.get(FAIL_REASON, default)


def has_objectives(trial) -> bool:
    """Whether ``trial`` recorded objective values.

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return has_json(trial.user_attrs, _OBJECTIVES)


def objectives(trial) -> dict[str, float]:
    """Every objective value recorded with ``trial``, by name (a copy).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.

    Raises:
        KeyError: ``trial`` recorded none (it is not a complete moo-compress trial).
    """
    return dict(get_json(trial.user_attrs, _OBJECTIVES))


def result(trial) -> dict[str, Any]:
    """The ``result`` recorded with a complete ``trial`` (see the module docstring).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.

    Raises:
        KeyError: ``trial`` recorded none.
    """
    return _full_result(trial.user_attrs)


def _full_result(attrs: dict[str, Any]) -> dict[str, Any]:
    out = dict(attrs[_RESULT])
    if "details" not in out:  # stored apart since the 1,024-character limit
        out["details"] = get_json(attrs, _DETAILS, {})
    return out


def constraints(trial) -> dict[str, float]:
    """Each constraint's value recorded with ``trial`` by label ({} when none: a study
    without constraints, or a trial that is not complete).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return dict(get_json(trial.user_attrs, _CONSTRAINTS, {}))


def evaluation_seconds(trial) -> float:
    """Seconds ``trial`` spent evaluating: the recorded ``eval_seconds`` of a complete
    trial or a multi-fidelity lower rung (PRUNED), the run time of a failed evaluation, 0 for a proposal never evaluated (duplicate,
    skipped, interrupted, abandoned) or a trial not finished (what ``budget.seconds`` counts).

    Args:
        trial: An Optuna ``FrozenTrial``.
    """
    state = _state(trial)
    if state in ("COMPLETE", "PRUNED"):
        return float(trial.user_attrs.get(_RESULT, {}).get("eval_seconds", 0.0))
    reason = fail_reason(trial)
    if state != "FAIL" or not reason or reason.startswith(_NOT_EVALUATED):
        return 0.0
    if trial.datetime_start is None or trial.datetime_complete is None:
        return 0.0
    return max(0.0, (trial.datetime_complete - trial.datetime_start).total_seconds())


def violation(trial) -> float:
    """Total constraint violation recorded with ``trial`` (0.0 when feasible or when the
    study has no constraints).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return float(trial.user_attrs.get(_VIOLATION, 0.0))


def is_feasible(trial) -> bool:
    """Whether ``trial`` satisfies every constraint of its study (True without any).

    Args:
        trial: An Optuna ``FrozenTrial`` or ``Trial``.
    """
    return violation(trial) <= 0.0


def _state(trial) -> str:
    """The state's name of an Optuna trial or a :class:`TrialRecord`."""
    return trial.state if isinstance(trial, TrialRecord) else trial.state.name


@dataclass
class TrialRecord:
    """One trial as moo-compress recorded it.

    Args:
        number: The Optuna trial number.
        state: The Optuna state's name (``COMPLETE``, ``FAIL``, ``RUNNING``...).
        config: The recorded configuration ({} when none).
        config_key: Its key ("" when none).
        objectives: Complete trials: every recorded objective value by name ({} for other
            states, or a complete trial that recorded none).
        attrs: A copy of all its user attributes, as stored.
        sampler_generation: The generation Optuna's NSGA-II sampler recorded (default None).
        datetime_start: When the trial started (default None: not started).
        datetime_complete: When it finished (default None: not finished).

    Every getter of this module reads a record as it reads the trial it came from
    (``record.fail_reason(r)``, ``record.evaluation_seconds(r)``, ...).
    """

    number: int
    state: str
    config: dict[str, Any]
    config_key: str
    objectives: dict[str, float]
    attrs: dict[str, Any]
    sampler_generation: int | None = None
    datetime_start: datetime.datetime | None = None
    datetime_complete: datetime.datetime | None = None

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The user attributes, under the name the getters read."""
        return self.attrs

    @property
    def violation(self) -> float:
        """Total constraint violation (0.0: feasible, or no constraints)."""
        return float(self.attrs.get(_VIOLATION, 0.0))

    @property
    def feasible(self) -> bool:
        """Whether the trial satisfies every constraint of its study."""
        return self.violation <= 0.0

    @property
    def constraints(self) -> dict[str, float]:
        """Each constraint's value by label ({} when none; <= 0: met)."""
        return dict(get_json(self.attrs, _CONSTRAINTS, {}))

    @property
    def result(self) -> dict[str, Any]:
        """The recorded ``result`` (see the module docstring).

        Raises:
            KeyError: The trial recorded none.
        """
        return _full_result(self.attrs)


def read(trial, *, sampler_generation: int | None = None) -> TrialRecord:
    """The record of ``trial``.

    Args:
        trial: An Optuna ``FrozenTrial``.
        sampler_generation: The generation Optuna's NSGA-II sampler recorded with it
            (default None; :func:`moo_compress.storage.records` reads it).
    """
    complete = trial.state.name == "COMPLETE"
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        config=config(trial, {}),
        config_key=config_key(trial, ""),
        objectives=objectives(trial) if complete and has_objectives(trial) else {},
        attrs=dict(trial.user_attrs),
        sampler_generation=sampler_generation,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
    )
