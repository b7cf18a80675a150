"""The ``optuna-gp`` driver's sampler: Optuna's ``GPSampler`` on a warped copy of the study.

Optuna's Gaussian process sees a categorical variable as unordered (a Hamming kernel) and
models every objective on its own scale. A compression space is mostly ordered numbers
offered as choices (bit-widths 2-32, cluster counts 0-256) and its objectives span decades
(a compression ratio of 1 to 600). So before each proposal :class:`WarpedGPSampler` copies
the study's complete trials into a throw-away in-memory study where

- a categorical variable whose choices are all numbers (not booleans) becomes a number:
  ``log2(1 + choice)`` when the choices are non-negative and span a factor of 4 or more,
  else the choice itself; other variables keep their distribution (a log-scaled number
  stays log-scaled);
- an objective whose values are all positive and span a factor of 10 or more is modelled
  on its logarithm (its direction kept);
- each trial keeps its stored constraint values, so the GP models feasibility too.

``GPSampler`` proposes there and the proposal is mapped back (a warped number to the
nearest choice). When the space is finite and small (every variable a choice, an integer or
a stepped float, at most :data:`MAX_CANDIDATES` points), the acquisition function is
evaluated on every point of the space not yet evaluated and the best one is taken, instead
of Optuna's sampled and locally optimized candidates: exact, cheaper, and never a
duplicate.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import optuna

from moo_compress.storage import gp_sampler_over, stored_constraints

__all__ = ["MAX_CANDIDATES", "WarpedGPSampler"]

#: The largest finite space whose every point the acquisition function is evaluated on.
MAX_CANDIDATES = 50_000


def _numeric_choices(dist) -> list[float] | None:
    """The choices of a categorical distribution when they are all numbers (not booleans)."""
    from optuna.distributions import CategoricalDistribution

    if not isinstance(dist, CategoricalDistribution) or len(dist.choices) < 3:
        return None
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in dist.choices):
        return None
    return [float(c) for c in dist.choices]


class _Warp:
    """How one variable is warped: the shadow distribution and the maps both ways."""

    def __init__(self, dist) -> None:
        from optuna.distributions import FloatDistribution

        self.dist = dist
        self.choices = _numeric_choices(dist)
        if self.choices is None:
            self.shadow = dist
            return
        lo, hi = min(self.choices), max(self.choices)
        self.log = lo >= 0 and (hi + 1) / (lo + 1) >= 4
        self.points = np.array([self.forward(c) for c in self.choices])
        self.shadow = FloatDistribution(float(self.points.min()), float(self.points.max()))

    def forward(self, value: Any) -> Any:
        if self.choices is None:
            return value
        return math.log2(1.0 + float(value)) if self.log else float(value)

    def back(self, value: Any) -> Any:
        from optuna.distributions import FloatDistribution

        d = self.dist
        if self.choices is None:
            if isinstance(d, FloatDistribution) and d.step is not None:  # on its grid
                n = round((float(value) - d.low) / d.step)
                return round(min(max(d.low + n * d.step, d.low), d.high), 12)
            return value
        return self.dist.choices[int(np.argmin(np.abs(self.points - float(value))))]

    def grid(self) -> list[Any] | None:
        """Every value of the variable in shadow coordinates (None: not finite)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        d = self.dist
        if self.choices is not None:
            return [float(p) for p in self.points]
        if isinstance(d, CategoricalDistribution):
            return list(d.choices)
        if isinstance(d, IntDistribution):
            return list(range(d.low, d.high + 1, d.step))
        if isinstance(d, FloatDistribution) and d.step is not None:
            n = int(round((d.high - d.low) / d.step))
            return [round(d.low + i * d.step, 12) for i in range(n + 1)]
        return None


class WarpedGPSampler(optuna.samplers.BaseSampler):
    """Optuna's ``GPSampler`` proposing on a warped copy of the study (module docstring).

    Implements Optuna's sampler interface, so a study (or mo-asha's proposal study) uses it
    as any sampler.

    Args:
        seed: The seed of this sampler's proposals.
        n_startup_trials: Complete trials before the GP proposes (random sampling until
            then).
    """

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 8) -> None:
        from optuna.samplers import RandomSampler

        super().__init__()
        self.seed = seed
        self.n_startup_trials = int(n_startup_trials)
        self._random = RandomSampler(seed=seed)

    # -- Optuna's sampler interface ------------------------------------------------------
    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:
        """The variables every complete trial shares (Optuna's intersection), non-single."""
        from optuna.search_space import intersection_search_space

        space = intersection_search_space(study.get_trials(deepcopy=False))
        return {k: d for k, d in space.items() if not d.single()}

    def sample_relative(self, study, trial, search_space: dict[str, Any]) -> dict[str, Any]:
        """The GP's proposal for every variable of ``search_space`` ({} before
        ``n_startup_trials`` complete trials: each variable is then sampled at random)."""
        from optuna.trial import TrialState

        if not search_space:
            return {}
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if search_space.keys() <= t.params.keys()
        ]
        if len(done) < self.n_startup_trials:
            return {}
        return self.propose(done, list(study.directions), search_space)

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        """A variable outside the relative space: random sampling."""
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        """Nothing to prepare."""

    def after_trial(self, study, trial, state, values) -> None:
        """Nothing to record."""

    def reseed_rng(self) -> None:
        """Draw a new seed (Optuna's sampler interface)."""
        self._random.reseed_rng()
        self.seed = None

    # -- the proposal ---------------------------------------------------------------------
    def propose(self, trials: list, directions: list, search_space: dict[str, Any]) -> dict:
        """The GP's proposal given complete ``trials`` (real parameters returned).

        Args:
            trials: Complete trials holding every variable of ``search_space``.
            directions: The study's directions (``StudyDirection``).
            search_space: Variable name -> Optuna distribution.
        """
        warps = {name: _Warp(d) for name, d in search_space.items()}
        shadow_space = {name: w.shadow for name, w in warps.items()}
        values = _normal_scores(np.array([t.values for t in trials], dtype=float))
        candidates = self._candidates(warps, trials)
        sampler = gp_sampler_over(
            candidates, seed=self.seed, n_startup_trials=0, warn_independent_sampling=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shadow = optuna.create_study(
                storage=optuna.storages.InMemoryStorage(),
                directions=directions,
                sampler=sampler,
            )
            shadow.add_trials(
                [
                    optuna.trial.create_trial(
                        params={n: warps[n].forward(t.params[n]) for n in warps},
                        distributions=shadow_space,
                        values=list(row),
                        constraints=_squash(stored_constraints(t)),
                    )
                    for t, row in zip(trials, values, strict=True)
                ]
            )
            asked = shadow.ask(shadow_space)
        return {n: warps[n].back(asked.params[n]) for n in warps}

    @staticmethod
    def _candidates(warps: dict[str, _Warp], trials: list) -> list[dict] | None:
        """Every point of a finite, small space not evaluated yet (shadow coordinates), or
        None (Optuna's own optimizer of the acquisition function)."""
        grids = [w.grid() for w in warps.values()]
        if any(g is None for g in grids) or math.prod(len(g) for g in grids) > MAX_CANDIDATES:
            return None
        names = list(warps)
        seen = {tuple(_key(warps[n].forward(t.params[n])) for n in names) for t in trials}
        out = [
            dict(zip(names, point, strict=True))
            for point in itertools.product(*grids)
            if tuple(_key(v) for v in point) not in seen
        ]
        return out or None


def _key(value: Any) -> Any:
    """A value as the candidate list compares it (floats to 9 digits)."""
    return round(value, 9) if isinstance(value, float) else value


def _normal_scores(values: np.ndarray) -> np.ndarray:
    """Each column replaced by the normal quantiles of its ranks (ties share their mean
    rank): the order of every objective is kept, its scale and outliers are not."""
    from scipy.stats import norm, rankdata

    n = len(values)
    ranks = np.column_stack([rankdata(col) for col in values.T]) if n else values
    return norm.ppf((ranks - 0.5) / n) if n else values


def _squash(constraints):
    """Constraint values on a log scale that keeps their sign (<= 0: met)."""
    if constraints is None:
        return None
    return [float(np.sign(c) * np.log1p(abs(c))) for c in constraints]
