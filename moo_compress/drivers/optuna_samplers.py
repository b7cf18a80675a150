"""Optuna samplers (TPE, NSGA-II, random) through the ask/tell API.

The sampler is rebuilt before each proposal with a seed derived from the study seed and
the number of proposals already finished, so a killed and resumed search proposes the
same configurations as an uninterrupted one (sampler state lives only in storage).

A proposal of a configuration already evaluated is stored as a failed duplicate, which the
samplers do not learn from: a model-based sampler that has converged would propose it again
and again (TPE on a small or tightly constrained space; on the quick start's tabular
benchmark 1 TPE run in 20 gave up after 200 duplicates in a row). So after
:attr:`OptunaDriver.random_after_duplicates` duplicates in a row the next proposal is drawn
by random sampling (seeded the same way, and decided from storage, so a resumed search makes
the same choice). Not after the first one: a retry with a new seed usually finds a new
configuration, and falling back to random at once cost TPE hypervolume on that benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OptunaDriver", "trailing_duplicates"]


class OptunaDriver:
    """Drive the search with one of Optuna's samplers.

    Args:
        cfg: The study configuration (``cfg.driver`` picks the sampler).
    """

    #: Duplicates in a row after which the next proposal is drawn at random (see the module
    #: docstring); None: never (only to measure what it is worth,
    #: ``benchmarks/search_efficiency.py --ablate no-random-after-duplicate``).
    random_after_duplicates: int | None = 10

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def make_sampler(self, seed: int):
        """A new sampler of the study's driver (TPE, NSGA-II or random) with the driver
        options. TPE and NSGA-II read the constraint values each trial stores
        (``Trial.set_constraint``) and prefer feasible trials.

        Args:
            seed: The sampler's seed.

        Raises:
            ValueError: The study's driver is not an Optuna one.
        """
        import optuna

        opts = self.cfg.driver_options
        if self.cfg.driver == "optuna-tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=opts["n_startup_trials"],
                multivariate=True,
            )
        if self.cfg.driver == "optuna-nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=opts["population_size"])
        if self.cfg.driver == "optuna-random":
            return optuna.samplers.RandomSampler(seed=seed)
        raise ValueError(f"OptunaDriver cannot run driver {self.cfg.driver!r}")

    def run(self, session, *, interrupted: list[dict[str, Any]]) -> None:
        """Ask, evaluate and tell until the budget is spent (interrupted configurations are
        queued first, unless already waiting in the study).

        Args:
            session: The search session (:class:`moo_compress.search.SearchSession`) that
                evaluates, stores and counts configurations.
            interrupted: Configurations of trials an earlier run left unfinished, queued first.

        Raises:
            MooCompressError: 200 proposals in a row were already evaluated.
        """
        import warnings

        import optuna
        from optuna.trial import TrialState

        from moo_compress import storage as st
        from moo_compress.errors import MooCompressError

        study = session.study
        space = session.space
        waiting = {
            space.config_key(space.full_config(st.queued_params(t)))
            for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        }
        for config in interrupted:
            if space.config_key(config) not in waiting:
                study.enqueue_trial(space.searched_params(config), skip_if_exists=False)
        session.fill_hypervolume_history()
        duplicates_in_a_row = trailing_duplicates(study)
        while session.budget_left() > 0:
            seed = session.proposal_seed()
            study.sampler = (
                optuna.samplers.RandomSampler(seed=seed)
                if self.random_after_duplicates is not None
                and duplicates_in_a_row >= self.random_after_duplicates
                else self.make_sampler(seed)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = study.ask()
                config = st.suggest_in_one_transaction(trial, space.suggest)
            before = session.n_complete
            outcome = session.evaluate_trial(trial, config)
            duplicate = outcome.trial_number != trial.number
            duplicates_in_a_row = duplicates_in_a_row + 1 if duplicate else 0
            if session.n_complete > before:
                session.record_hypervolume()
            elif duplicate:
                if duplicates_in_a_row >= 200:
                    raise MooCompressError(
                        "search stopped: 200 proposals in a row were already evaluated; the search space looks exhausted"
                    )


def trailing_duplicates(study, *, passed_over: Callable[[Any], bool] | None = None) -> int:
    """How many duplicate proposals in a row the study ends with: counted back from its last
    finished trial (by number) until one that is not a duplicate proposal, passing over
    interrupted trials (not in an uninterrupted run's history) and those ``passed_over``
    names. A resumed search restores its count of duplicates in a row from this, so it
    falls back to random proposals exactly when an uninterrupted run would.

    Args:
        study: The Optuna study.
        passed_over: Trials that neither count nor end the run (default None: none);
            mo-asha passes over its promotions, which are no proposals.
    """
    from optuna.trial import TrialState

    from moo_compress import record
    from moo_compress import storage as st

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    finished = study.get_trials(deepcopy=False, states=states)
    n = 0
    for t in sorted(finished, key=lambda t: t.number, reverse=True):
        reason = str(record.fail_reason(t))
        if reason == st.INTERRUPTED or (passed_over is not None and passed_over(t)):
            continue
        if not reason.startswith(record.DUPLICATE):
            break
        n += 1
    return n
