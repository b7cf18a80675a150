"""The contract between a driver and the search it drives.

A driver proposes configurations; the session (:class:`moo_compress.search.SearchSession`)
evaluates, stores and counts them. :class:`Driver` is what a driver is, and
:class:`Session` is everything a driver may use of the session: drivers never touch the
Optuna study, the storage URL or the session's counters themselves.

What every proposing driver shares lives here once:

- :func:`make_sampler`: Optuna's TPE, NSGA-II and random samplers with the study's options
  (the Optuna drivers, mo-asha's base sampler, and the ``worker`` processes);
- :class:`DuplicateRun`: a model-based sampler that has converged proposes configurations
  already evaluated again and again; after :data:`RANDOM_AFTER_DUPLICATES` in a row the next
  proposal is drawn at random, and after :data:`STOP_AFTER_DUPLICATES` the search stops
  (the space looks exhausted). The count is restored from storage on resume;
- :func:`claim_evaluation`: the database claim that lets exactly one of racing workers
  evaluate a configuration (or a rung of it) and take a budget slot.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from moo_compress import record
from moo_compress import storage as st
from moo_compress.errors import MooCompressError

if TYPE_CHECKING:
    import optuna

    from moo_compress.evaluation.base import BaseEvaluator

__all__ = [
    "RANDOM_AFTER_DUPLICATES",
    "STOP_AFTER_DUPLICATES",
    "Driver",
    "DuplicateRun",
    "Session",
    "claim_evaluation",
    "make_sampler",
    "trailing_duplicates",
]

#: Duplicate proposals in a row after which the next proposal is drawn at random. Not after
#: the first one: a retry with a new seed usually finds a new configuration, and falling
#: back to random at once cost TPE hypervolume on the tabular benchmark.
RANDOM_AFTER_DUPLICATES = 10
#: Duplicate proposals in a row after which the search stops: the space looks exhausted.
STOP_AFTER_DUPLICATES = 200


@runtime_checkable
class Session(Protocol):
    """All a driver may use of the search it drives.

    Read: ``space``, ``objectives``, ``directions`` and ``constraints`` of the study, and
    ``evaluator`` (:class:`~moo_compress.evaluation.base.BaseEvaluator`) for drivers that
    measure one rung of a configuration themselves.
    """

    space: Any
    objectives: list[str]
    directions: list[str]
    constraints: tuple
    evaluator: BaseEvaluator
    n_complete: int

    def budget_left(self) -> int:
        """Completed trials still needed (0: the budget is spent)."""

    def proposal_seed(self) -> int:
        """The next proposal's seed (the same on resume)."""

    def lookup(self, config: dict[str, Any]) -> Any:
        """The stored outcome of ``config``, or None."""

    def propose(self, sampler) -> tuple[optuna.Trial, dict[str, Any]]:
        """A new trial proposed by ``sampler`` and its full configuration."""

    def ask_config(self, config: dict[str, Any]) -> tuple[optuna.Trial, dict[str, Any]]:
        """A new trial whose parameters are exactly ``config``'s."""

    def evaluate_trial(self, trial, config, *, generation=None, compute=None, lower_rung=False):
        """Evaluate a proposed trial (or one rung of it), store and tell it."""

    def evaluate_config(self, config, *, generation=None, compute=None):
        """Evaluate a configuration the driver chose, store and tell it."""

    def fail(self, trial, reason: str) -> None:
        """Fail a proposal that is not evaluated (a duplicate, skipped)."""

    def skip(self, reason: str) -> None:
        """Take the next queued trial off the queue as skipped."""

    def stamp(self, trial, config: dict[str, Any], key: str, *, worker=None, more=None) -> None:
        """Write a proposal's configuration (and worker, ``more``) in one transaction."""

    def claim(self, trial, name: str, *, taken=None, n_trials=None, complete=None, what: str):
        """Claim an evaluation in the database (see :func:`claim_evaluation`)."""

    def running(self, trial) -> AbstractContextManager:
        """While the trial runs: its heartbeat."""

    def failed_elsewhere(self, trial) -> bool:
        """Another worker failed this trial (its heartbeat was overdue)."""

    def trials(self, states=None) -> list:
        """The study's trials, read now."""

    def queue(self, configs: list[dict[str, Any]]) -> None:
        """Queue configurations to be proposed first (those not waiting already)."""

    def sync(self, grace_seconds: float, *, refresh: bool = False) -> None:
        """Fail dead workers' trials and read what other workers stored."""

    def duplicates_in_a_row(self, passed_over=None) -> int:
        """Duplicate proposals in a row the study ends with."""

    def read_artifact(self, key: str, stored: dict[str, Any]) -> bytes | None:
        """A lower rung's kept artifact when it is the one it measured."""

    def read_checkpoint(self, key: str, stored: dict[str, Any]) -> bytes | None:
        """A lower rung's paused fine-tuning run when it is the one it measured."""

    def drop_checkpoints(self, key: str, *, below: int | None = None) -> int:
        """Delete a configuration's kept paused runs (all, or of fewer epochs)."""

    def record_hypervolume(self, generation: int | None = None) -> float:
        """Store the archive's hypervolume."""

    def fill_hypervolume_history(self) -> None:
        """Recompute history entries a stopped process lost."""

    def catch_up(self, finished: list) -> None:
        """Take in the finished trials other workers stored (their seconds and archive).

        Args:
            finished: Every complete and failed trial of the study.
        """


@runtime_checkable
class Driver(Protocol):
    """A search driver: ``Driver(cfg[, pool]).run(session, interrupted=[...])`` proposes
    and evaluates configurations through ``session`` until its budget is spent.

    ``interrupted`` are the configurations of trials an earlier run left unfinished, to be
    proposed again first. Drivers that scale out with ``worker`` processes also take
    ``worker`` (this process's id) and ``log``.
    """

    def run(self, session: Session, *, interrupted: list[dict[str, Any]]) -> Any:
        """Propose and evaluate until the budget is spent."""


def make_sampler(name: str, options: dict[str, Any], seed: int):
    """A new Optuna sampler: ``"tpe"`` (multivariate, ``n_startup_trials``), ``"gp"``
    (Gaussian process, ``n_startup_trials``), ``"nsga2"`` (``population_size``) or
    ``"random"``. TPE, GP and NSGA-II read the constraint values each
    trial stores (``Trial.set_constraint``) and prefer feasible trials, then the smaller
    total violation.

    Args:
        name: The sampler.
        options: The driver's options.
        seed: The sampler's seed.

    Raises:
        ValueError: An unknown sampler.
    """
    import optuna

    if name == "tpe":
        with warnings.catch_warnings():
            # the one warning of these settings: multivariate TPE is marked experimental
            warnings.filterwarnings(
                "ignore",
                message="Argument ``multivariate`` is an experimental feature",
                category=optuna.exceptions.ExperimentalWarning,
            )
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=options["n_startup_trials"], multivariate=True
            )
    if name == "gp":
        # Optuna's Gaussian-process sampler on a warped copy of the study (ordered choices
        # as numbers, objectives spanning decades on a log scale; the stored constraints);
        # its module imports Optuna's GP (torch), needed by this sampler only
        from moo_compress.drivers.gp import WarpedGPSampler

        return WarpedGPSampler(seed=seed, n_startup_trials=options["n_startup_trials"])
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=options["population_size"])
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"no sampler {name!r}: tpe, gp, nsga2 or random")


class DuplicateRun:
    """Duplicate proposals in a row: when to propose at random instead, and when to stop.

    Args:
        count: The run the study ends with (restored from storage,
            :meth:`Session.duplicates_in_a_row`).
        random_after: Duplicates in a row after which proposals are drawn at random
            (default :data:`RANDOM_AFTER_DUPLICATES`; None: never, only to measure what it
            is worth).
    """

    def __init__(self, count: int, random_after: int | None = RANDOM_AFTER_DUPLICATES) -> None:
        self.count = count
        self.random_after = random_after

    @property
    def at_random(self) -> bool:
        """The next proposal is drawn at random."""
        return self.random_after is not None and self.count >= self.random_after

    def sampler(self, make: Callable[[int], Any], seed: int):
        """The next proposal's sampler: ``make(seed)``, or random sampling (:attr:`at_random`)."""
        return make_sampler("random", {}, seed) if self.at_random else make(seed)

    def proposed(self, duplicate: bool) -> None:
        """Count one proposal.

        Raises:
            MooCompressError: :data:`STOP_AFTER_DUPLICATES` proposals in a row were already
                evaluated.
        """
        self.count = self.count + 1 if duplicate else 0
        if self.count >= STOP_AFTER_DUPLICATES:
            raise MooCompressError(
                f"search stopped: {STOP_AFTER_DUPLICATES} proposals in a row were already "
                "evaluated; the search space looks exhausted"
            )


def claim_evaluation(
    study,
    trial,
    name: str,
    *,
    taken: Callable[[], int | None] | None = None,
    n_trials: int | None = None,
    complete: Callable[[], list] | None = None,
    what: str,
) -> str | None:
    """Why ``trial`` must not run its evaluation (a duplicate, or over budget), or None to
    run it.

    The claim ``name`` (:func:`moo_compress.storage.config_claim` or
    :func:`~moo_compress.storage.rung_claim`) and, with ``n_trials``, one of the budget's
    slots are claimed in the database (:func:`moo_compress.storage.claim`): of racing trials
    exactly one wins each. A claim won is released again when the evaluation turns out taken
    by a trial that holds no claim (``taken``: a ``search`` wrote it) or the budget is met.

    Args:
        study: The Optuna study.
        trial: The trial about to run.
        name: Its claim.
        taken: Returns the number of a finished trial that already holds this evaluation
            without a claim, or None (default None: none can).
        n_trials: Take a budget slot of this budget (default None: none needed).
        complete: Returns the study's complete trials, read after ``taken`` (default None:
            :func:`~moo_compress.storage.take_budget_slot` reads them).
        what: The end of a duplicate's reason ("configuration already evaluated").
    """
    holder = st.claim(study, trial, name)
    if holder is not None:
        return f"{record.DUPLICATE} of trial {holder.number}: {what}"
    number = taken() if taken is not None else None
    if number is not None:
        st.release_claim(study, trial, name)
        return f"{record.DUPLICATE} of trial {number}: {what}"
    if n_trials is not None and (
        st.take_budget_slot(study, trial, n_trials, complete() if complete else None) is None
    ):
        st.release_claim(study, trial, name)
        return f"{st.SKIPPED}: the budget is met by completed and running trials"
    return None


def trailing_duplicates(trials: list, *, passed_over: Callable[[Any], bool] | None = None) -> int:
    """How many duplicate proposals in a row a study ends with: counted back from its last
    finished trial (by number) until one that is not a duplicate proposal, passing over
    interrupted trials (not in an uninterrupted run's history) and those ``passed_over``
    names. A resumed search restores its :class:`DuplicateRun` from this, so it falls back
    to random proposals exactly when an uninterrupted run would.

    Args:
        trials: The study's trials.
        passed_over: Trials that neither count nor end the run (default None: none);
            mo-asha passes over its promotions, which are no proposals, and a ``worker``
            the other workers' trials.
    """
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    n = 0
    for t in sorted((t for t in trials if t.state in states), key=lambda t: t.number, reverse=True):
        reason = str(record.fail_reason(t))
        if reason == st.INTERRUPTED or (passed_over is not None and passed_over(t)):
            continue
        if not reason.startswith(record.DUPLICATE):
            break
        n += 1
    return n
