"""Optuna samplers (TPE, NSGA-II, random) through the ask/tell API, in one process or as one
of several ``worker`` processes sharing the study.

The sampler is rebuilt before each proposal with a seed derived from the study seed and
the number of proposals already finished, so a killed and resumed search proposes the
same configurations as an uninterrupted one (sampler state lives only in storage).

A proposal of a configuration already evaluated is stored as a failed duplicate, which the
samplers do not learn from: a model-based sampler that has converged would propose it again
and again (TPE on a small or tightly constrained space; on the quick start's tabular
benchmark 1 TPE run in 20 gave up after 200 duplicates in a row). So after
:attr:`OptunaDriver.random_after_duplicates` duplicates in a row the next proposal is drawn
by random sampling (seeded the same way, and decided from storage, so a resumed search makes
the same choice), and after 200 the search stops (:class:`~moo_compress.drivers.base.DuplicateRun`).
A ``worker`` process does the same with the duplicates it proposed itself.

Workers claim each configuration and one of the ``n_trials`` budget slots in the database
(:func:`~moo_compress.drivers.base.claim_evaluation`): of racing workers exactly one wins
each, so no configuration is evaluated twice and the budget is never overshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from moo_compress import record
from moo_compress import storage as st
from moo_compress._utils.hashing import derived_seed
from moo_compress.drivers.base import (
    RANDOM_AFTER_DUPLICATES,
    DuplicateRun,
    make_sampler,
    trailing_duplicates,
)

__all__ = ["POLL_SECONDS", "OptunaDriver", "claim_config", "trailing_duplicates"]

#: How long a worker waits before looking again at trials other workers run.
POLL_SECONDS = 0.5
_SAMPLERS = {
    "optuna-tpe": "tpe",
    "optuna-gp": "gp",
    "optuna-nsga2": "nsga2",
    "optuna-random": "random",
}


class OptunaDriver:
    """Drive the search with one of Optuna's samplers.

    Args:
        cfg: The study configuration (``cfg.driver`` picks the sampler).
    """

    #: Duplicates in a row after which the next proposal is drawn at random (see the module
    #: docstring); None: never (only to measure what it is worth,
    #: ``benchmarks/search_efficiency.py --ablate no-random-after-duplicate``).
    random_after_duplicates: int | None = RANDOM_AFTER_DUPLICATES

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def make_sampler(self, seed: int):
        """A new sampler of the study's driver (TPE, NSGA-II or random) with the driver
        options (:func:`moo_compress.drivers.base.make_sampler`).

        Args:
            seed: The sampler's seed.

        Raises:
            ValueError: The study's driver is not an Optuna one.
        """
        if self.cfg.driver not in _SAMPLERS:
            raise ValueError(f"OptunaDriver cannot run driver {self.cfg.driver!r}")
        return make_sampler(_SAMPLERS[self.cfg.driver], self.cfg.driver_options, seed)

    def run(
        self,
        session,
        *,
        interrupted: list[dict[str, Any]],
        worker: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Ask, evaluate and tell until the budget is spent (interrupted configurations are
        queued first, unless already waiting in the study).

        Args:
            session: The search session (:class:`moo_compress.drivers.base.Session`) that
                evaluates, stores and counts configurations.
            interrupted: Configurations of trials an earlier run left unfinished, queued first.
            worker: This process's worker id when it is one of several ``worker`` processes
                (default None: the search's only driver).
            log: Callable for messages (default None: silent).

        Returns:
            What this process did: ``evaluated`` (evaluations run here) and
            ``wait_seconds`` (spent waiting for other workers' trials).

        Raises:
            MooCompressError: 200 proposals in a row were already evaluated.
        """
        if worker is not None:
            return self._run_worker(session, worker, log or (lambda msg: None))
        session.queue(interrupted)
        session.fill_hypervolume_history()
        duplicates = DuplicateRun(session.duplicates_in_a_row(), self.random_after_duplicates)
        evaluated = 0
        while session.budget_left() > 0:
            sampler = duplicates.sampler(self.make_sampler, session.proposal_seed())
            trial, config = session.propose(sampler)
            before = session.n_complete
            outcome = session.evaluate_trial(trial, config)
            evaluated += outcome.trial_number == trial.number
            if session.n_complete > before:
                session.record_hypervolume()
            duplicates.proposed(outcome.trial_number != trial.number)
        return {"evaluated": evaluated, "wait_seconds": 0.0}

    def _run_worker(self, session, worker: str, log: Callable[[str], None]) -> dict[str, Any]:
        """One of several ``worker`` processes: propose, claim, evaluate and tell until the
        study holds ``n_trials`` completed trials and none runs or waits."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        cfg = self.cfg
        proposals = evaluated = 0
        recorded = session.n_complete
        wait_seconds = 0.0
        duplicates = DuplicateRun(
            session.duplicates_in_a_row(passed_over=lambda t: record.worker(t) != worker),
            self.random_after_duplicates,
        )
        listing = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING)
        while True:
            session.sync(cfg.workers.grace_seconds)
            listed = session.trials(listing)
            finished_or_running = [t for t in listed if t.state != TrialState.WAITING]
            trials = [t for t in finished_or_running if t.state != TrialState.FAIL]
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            session.catch_up([t for t in finished_or_running if t.state != TrialState.RUNNING])
            if len(complete) > recorded:  # the archive grew (here or elsewhere)
                session.record_hypervolume()
                recorded = len(complete)
            if len(complete) >= cfg.n_trials or session.budget_left() == 0:
                running = any(t.state == TrialState.RUNNING for t in trials)
                waiting = any(t.state == TrialState.WAITING for t in listed)
                if not running and not waiting:
                    break
                if waiting:
                    # a dead worker's configuration re-queued after the budget was met: take
                    # it off the queue as skipped, so that no trial is left waiting
                    session.skip("the budget is met by completed trials")
                    continue
                # a trial still runs (alive, or dead until its heartbeat is overdue): wait
                # for it to finish or be failed, so that the study ends with nothing running
                time.sleep(POLL_SECONDS)
                wait_seconds += POLL_SECONDS
                continue
            if len(trials) >= cfg.n_trials:
                # the rest of the budget is running elsewhere; wait in case one of them dies
                time.sleep(POLL_SECONDS)
                wait_seconds += POLL_SECONDS
                continue
            seed = derived_seed(cfg.seed, worker, proposals)
            proposals += 1
            trial, config = session.propose(duplicates.sampler(self.make_sampler, seed))
            try:
                with session.running(trial):
                    key = session.space.config_key(config)
                    session.stamp(trial, config, key, worker=worker)
                    reason = claim_config(session, trial, key, cfg.n_trials)
                    if reason is not None:
                        session.fail(trial, reason)
                        duplicates.proposed(reason.startswith(record.DUPLICATE))
                        continue
                    outcome = session.evaluate_trial(trial, config)
                    evaluated += 1
                    duplicates.proposed(outcome.trial_number != trial.number)
            except (UpdateFinishedTrialError, ValueError):  # ValueError: tell's "Cannot tell"
                # this worker was too slow to beat (an overloaded machine): another worker
                # failed the trial and re-queued its configuration
                if not session.failed_elsewhere(trial):
                    raise
                log(f"trial {trial.number} was failed by another worker: heartbeat overdue")
        return {"evaluated": evaluated, "wait_seconds": wait_seconds}


def claim_config(session, trial, key: str, n_trials: int) -> str | None:
    """Why this worker's trial must not run (duplicate or over budget), or None to run it.

    The configuration and a budget slot are claimed in the database
    (:func:`moo_compress.drivers.base.claim_evaluation`): of racing trials exactly one wins
    each. Finished trials that hold no claim (a ``search`` wrote them) count as evaluated too.

    Args:
        session: The search session (its ``claim`` and ``trials``).
        trial: The worker's running trial, its configuration written.
        key: The configuration's key.
        n_trials: The budget of completed trials.
    """
    from optuna.trial import TrialState

    finished: list = []

    def taken() -> int | None:
        finished[:] = session.trials((TrialState.COMPLETE, TrialState.FAIL))
        for t in finished:
            if t.number != trial.number and record.config_key(t) == key and st.holds_evaluation(t):
                return t.number
        return None

    return session.claim(
        trial,
        st.config_claim(key),
        taken=taken,
        n_trials=n_trials,
        complete=lambda: [t for t in finished if t.state == TrialState.COMPLETE],
        what="configuration already evaluated or running",
    )
