"""Optuna samplers (TPE, NSGA-II, random) through the ask/tell API.

The sampler is rebuilt before each proposal with a seed derived from the study seed and
the number of proposals already finished, so a killed and resumed search proposes the
same configurations as an uninterrupted one (sampler state lives only in storage).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OptunaDriver"]


class OptunaDriver:
    """Drive the search with one of Optuna's samplers.

    Args:
        cfg: The study configuration (``cfg.driver`` picks the sampler).
    """

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def make_sampler(self, seed: int):
        """A new sampler of the study's driver (TPE, NSGA-II or random) with the driver options.

        Args:
            seed: The sampler's seed.

        Raises:
            ValueError: The study's driver is not an Optuna one.
        """
        import optuna

        opts = self.cfg.driver_options
        if self.cfg.driver == "optuna-tpe":
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=opts["n_startup_trials"], multivariate=True
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
        duplicates_in_a_row = 0
        while session.budget_left() > 0:
            study.sampler = self.make_sampler(session.proposal_seed())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = study.ask()
                config = space.suggest(trial)
            before = session.n_complete
            session.evaluate_trial(trial, config)
            if session.n_complete > before:
                duplicates_in_a_row = 0
                session.record_hypervolume()
            else:
                duplicates_in_a_row += 1
                if duplicates_in_a_row >= 200:
                    raise MooCompressError(
                        "search stopped: 200 proposals in a row were already evaluated; the search space looks exhausted"
                    )
