"""pymoo's NSGA-II through ask/tell, with mixed integer / categorical / real variables.

Variables are pymoo ``Integer``/``Choice``/``Real`` (grid floats are integer grid indices),
with pymoo's mixed-variable sampling, mating and duplicate elimination, so no invalid point
is ever proposed. A configuration already in storage is never evaluated again: its stored
values are told instead. Failed evaluations are infeasible (a first constraint violated);
the study's ``constraints`` are pymoo inequality constraints after it, so NSGA-II's
feasibility-first selection applies them.

Parallel generations: with a Dask pool (``search --n-workers K`` or ``--dask-scheduler``)
the new configurations of a generation are evaluated at once on the cluster; results are
stored in population order, so the archive is the same as a serial run's.

Resume: NSGA-II's state is rebuilt by replaying the algorithm with the study seed, telling
each generation the values stored for its configurations, until it reaches configurations
not yet evaluated; it then continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moo_compress.errors import MooCompressError

__all__ = ["PymooNSGA2Driver"]

_INFEASIBLE = 1e12


class PymooNSGA2Driver:
    """Drive the search with pymoo's NSGA-II (ask/tell over mixed variables).

    Args:
        cfg: The study configuration (:class:`moo_compress.config.StudyConfig`).
        pool: A pool with ``submit(config, key)`` returning a callable that gives the result
            (``moo_compress.workers.DaskPool``) to evaluate each generation's new
            configurations at once; None (the default) evaluates them one by one.
    """

    #: Pick parents by NSGA-II's binary tournament (feasibility, rank, crowding) instead of
    #: pymoo's mixed-variable default (at random among the survivors, selection pressure
    #: then coming from survival alone). On the quick start's tabular benchmark the
    #: tournament is worth 1.06x against 0.95x random sampling's hypervolume at 40
    #: evaluations (``benchmarks/search_efficiency.py --ablate pymoo-random-parents``).
    tournament_parents = True

    def __init__(self, cfg, pool=None) -> None:
        self.cfg = cfg
        self.pool = pool

    def _submit(self, session, configs: list[dict[str, Any]]) -> dict[str, Any]:
        """Start the generation's new configurations on the pool (at most the budget left);
        returns config key -> callable giving the result."""
        if self.pool is None:
            return {}
        pending: dict[str, Any] = {}
        for config in configs:
            key = session.space.config_key(config)
            if key in pending or session.lookup(config) is not None:
                continue
            if len(pending) >= session.budget_left():
                break
            pending[key] = self.pool.submit(config, key)
        return pending

    def run(self, session, *, interrupted: list[dict[str, Any]]) -> None:
        """Run generations (replaying stored ones) until the budget is spent or the
        algorithm proposes nothing.

        Args:
            session: The search session (:class:`moo_compress.search.SearchSession`) that
                evaluates, stores and counts configurations.
            interrupted: Configurations of trials an earlier run left unfinished; not used,
                as replaying NSGA-II with the study seed proposes them again.

        Raises:
            MooCompressError: The space has no searched variable, or 50 generations in a row
                proposed only configurations already evaluated.
        """
        from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.mixed import (
            MixedVariableDuplicateElimination,
            MixedVariableMating,
            MixedVariableSampling,
        )
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.selection.tournament import TournamentSelection
        from pymoo.problems.static import StaticProblem

        space = session.space
        n_obj = len(session.objectives)
        sign = np.array([1.0 if d == "minimize" else -1.0 for d in session.directions])
        variables = space.pymoo_variables()
        if not variables:
            raise MooCompressError(
                f"{space.source}: the search space has no searched variable; pymoo-nsga2 needs at least one"
            )
        n_constr = len(session.constraints)
        problem = Problem(vars=variables, n_obj=n_obj, n_ieq_constr=1 + n_constr)
        algorithm = NSGA2(
            pop_size=self.cfg.driver_options["population_size"],
            sampling=MixedVariableSampling(),
            mating=MixedVariableMating(
                eliminate_duplicates=MixedVariableDuplicateElimination(),
                **(
                    {"selection": TournamentSelection(func_comp=binary_tournament)}
                    if self.tournament_parents
                    else {}
                ),
            ),
            eliminate_duplicates=MixedVariableDuplicateElimination(),
        )
        algorithm.setup(problem, seed=self.cfg.seed, termination=NoTermination())
        generation = 0
        idle_generations = 0
        while True:
            pop = algorithm.ask()
            if pop is None or len(pop) == 0:
                return
            F = np.empty((len(pop), n_obj))
            G = np.zeros((len(pop), 1 + n_constr))
            new = 0
            configs = [space.from_pymoo(ind.X) for ind in pop]
            pending = self._submit(session, configs)
            for i, config in enumerate(configs):
                outcome = session.lookup(config)
                if outcome is None:
                    if session.budget_left() == 0:
                        return
                    outcome = session.evaluate_config(
                        config,
                        generation=generation,
                        compute=pending.get(session.space.config_key(config)),
                    )
                    new += 1
                if outcome.complete:
                    F[i] = sign * np.array([outcome.values[name] for name in session.objectives])
                    # pymoo sums the violations: put them on one scale (a fraction of the
                    # objective's normalization range; relative bounds are fractions already)
                    G[i, 1:] = [
                        c.scaled(v)
                        for c, v in zip(session.constraints, outcome.constraints, strict=True)
                    ]
                else:
                    F[i] = _INFEASIBLE
                    G[i] = 1.0
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algorithm.tell(infills=pop)
            # Idempotent: during a replay the entry for the stored trial count exists already,
            # unless the process stopped right before writing it.
            session.record_hypervolume(generation=generation)
            if new:
                idle_generations = 0
            else:
                idle_generations += 1
            generation += 1
            if session.budget_left() == 0:
                return
            if idle_generations >= 50:
                raise MooCompressError(
                    "search stopped: 50 generations in a row proposed only configurations already evaluated; the search space looks exhausted"
                )
