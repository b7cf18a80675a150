"""Pareto archive and normalized hypervolume over a study's objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["normalize", "normalized_hypervolume", "pareto_indices", "to_minimization"]


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
    keep = []
    for i in range(len(f)):
        dominated = np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
        duplicate = any(np.array_equal(f[i], f[j]) for j in keep)
        if not dominated and not duplicate:
            keep.append(i)
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
    front = normalize(values[pareto_indices(values, directions)], directions, bounds)
    from pymoo.indicators.hv import HV

    return float(HV(ref_point=np.ones(len(directions)))(front))
