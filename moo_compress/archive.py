"""Pareto archive and normalized hypervolume over a study's objectives.

:func:`pareto_indices` and :func:`normalized_hypervolume` work on every point at once;
:class:`ParetoArchive` keeps the front of the points added so far, one point at a time, so a
search's per-trial cost does not grow with the number of trials in the study (the exact
hypervolume is moocore's, through pymoo, on the front only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "ParetoArchive",
    "normalize",
    "normalized_hypervolume",
    "pareto_indices",
    "to_minimization",
]


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """The values with every maximized objective negated, as rows of one column per objective.

    Args:
        values: Objective values, one row per point (reshaped to ``len(directions)`` columns).
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    return values * sign


def pareto_indices(values: np.ndarray, directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated rows (first occurrence kept among identical rows).

    Args:
        values: Objective values, one row per point (reshaped to ``len(directions)`` columns).
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
    """
    f = to_minimization(values, directions)
    keep, kept = [], set()
    for i in range(len(f)):
        dominated = np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
        row = tuple(f[i])
        if not dominated and row not in kept:
            keep.append(i)
            kept.add(row)
    return keep


def normalize(
    values: np.ndarray, directions: Sequence[str], bounds: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Map each objective to [0, 1] with 0 the best bound, clipping outside values.

    Args:
        values: Objective values, one row per point (reshaped to ``len(directions)`` columns).
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
        bounds: ``(low, high)`` of each objective, in its own units.
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    out = np.empty_like(values)
    for j, (d, (lo, hi)) in enumerate(zip(directions, bounds, strict=True)):
        scaled = (values[:, j] - lo) / (hi - lo)
        out[:, j] = scaled if d == "minimize" else 1.0 - scaled
    return np.clip(out, 0.0, 1.0)


def normalized_hypervolume(
    values: np.ndarray, directions: Sequence[str], bounds: Sequence[tuple[float, float]]
) -> float:
    """Hypervolume of the normalized front against the reference point (1, ..., 1), in [0, 1].

    Args:
        values: Objective values, one row per point (reshaped to ``len(directions)`` columns).
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
        bounds: ``(low, high)`` of each objective, mapped to [0, 1] by :func:`normalize`.

    Returns:
        The hypervolume of the front's rows (0.0 when there are none).
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    if len(values) == 0:
        return 0.0
    return _front_hypervolume(values[pareto_indices(values, directions)], directions, bounds)


def _front_hypervolume(
    front: np.ndarray, directions: Sequence[str], bounds: Sequence[tuple[float, float]]
) -> float:
    """Normalized hypervolume of points already known to be non-dominated (moocore's exact
    algorithm through pymoo)."""
    from pymoo.indicators.hv import HV

    return float(HV(ref_point=np.ones(len(directions)))(normalize(front, directions, bounds)))


class ParetoArchive:
    """The non-dominated points among those added so far, updated point by point.

    Equal to :func:`pareto_indices` and :func:`normalized_hypervolume` over every point added
    (the first of identical points is kept; tested against a full recomputation). Adding a
    point costs one comparison with the current front; the hypervolume is recomputed, on the
    front only, when the front has changed since it was last asked for.

    Args:
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
        bounds: ``(low, high)`` of each objective, for the normalized hypervolume.
    """

    def __init__(self, directions: Sequence[str], bounds: Sequence[tuple[float, float]]) -> None:
        self.directions = list(directions)
        self.bounds = [tuple(b) for b in bounds]
        self._sign = np.array([1.0 if d == "minimize" else -1.0 for d in self.directions])
        self._front = np.empty((0, len(self.directions)))  # minimization form
        self._hv: float | None = 0.0
        self.n_points = 0

    def add(self, values: Sequence[float]) -> bool:
        """Add one point; return whether it entered the front.

        Args:
            values: The point's objective values, in the directions' order.
        """
        f = np.asarray(values, dtype=float).reshape(-1) * self._sign
        self.n_points += 1
        front = self._front
        if len(front) and np.any(np.all(front <= f, axis=1)):
            return False  # dominated by, or equal to, a point of the front
        dominated = np.all(f <= front, axis=1) & np.any(f < front, axis=1)
        self._front = np.vstack([front[~dominated], f])
        self._hv = None
        return True

    @property
    def size(self) -> int:
        """Number of points on the front."""
        return len(self._front)

    @property
    def values(self) -> np.ndarray:
        """The front's points in the objectives' own directions (one row each)."""
        return self._front * self._sign

    def hypervolume(self) -> float:
        """Normalized hypervolume of the front (0.0 when empty; see
        :func:`normalized_hypervolume`)."""
        if self._hv is None:
            self._hv = (
                _front_hypervolume(self.values, self.directions, self.bounds) if self.size else 0.0
            )
        return self._hv
