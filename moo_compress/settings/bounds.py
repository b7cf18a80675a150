"""Hypervolume bounds a study derives from its constraints when its file sets none.

The normalized hypervolume maps each optimized objective to [0, 1] between its bounds.
An objective's default bounds are the whole range it can take (accuracy [0, 100]); with a
constraint, every model that enters the archive lies in a small part of it (the quick
start's feasible models: accuracy 96 to 98.5), and the hypervolume barely sees that
objective. So when the study file gives an objective no ``bounds``, they are derived once,
when the study is created, from the baseline and the constraints:

- the **worst end** is the constraint's edge: the worst value a feasible model may have
  (``min``/``max``: the bound; ``max_drop``: baseline - bound; ``max_relative_drop``:
  baseline - bound x |baseline|; ``max_increase``: baseline + bound;
  ``max_relative_increase``: baseline + bound x |baseline|). Several constraints on one
  objective: the tightest edge. Relative constraints with several architectures (one
  baseline each): the loosest edge over them, so that no feasible model is clipped.
  Without a constraint on the worse side the worst end stays the default bound's.
- the **best end** is the best value reachable: the default bound's best end (accuracy
  100, mCE 0), or a constraint capping the better side (``max`` on a maximized objective,
  ``min`` on a minimized one) when it is tighter.
- an objective whose derived ends are not in order (a constraint at or beyond the best
  value reachable), or whose relative constraint has no baseline value to compare with
  (every model then fails that constraint, and nothing enters the archive), keeps its
  default bounds.

Bounds set in the study file are used as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from moo_compress.settings._types import ObjectiveSpec
from moo_compress.settings.constraints import Constraint

if TYPE_CHECKING:
    from moo_compress.settings._types import StudyConfig

__all__ = ["WORSE_SIDE", "constraint_edge", "derive_bounds", "study_bounds"]

#: Kinds of bound that limit how bad a model may be, per direction (the rest cap how good).
WORSE_SIDE = {
    "maximize": ("min", "max_drop", "max_relative_drop"),
    "minimize": ("max", "max_increase", "max_relative_increase"),
}


def constraint_edge(constraint: Constraint, baseline: float | None = None) -> float:
    """The objective's value at which ``constraint`` is met exactly (its value is 0).

    Args:
        constraint: The constraint.
        baseline: The baseline's value of its objective (needed by the relative kinds).

    Raises:
        ValueError: A relative kind without the baseline's value.
    """
    kind, bound = constraint.kind, constraint.bound
    if kind in ("min", "max"):
        return float(bound)
    if baseline is None:
        raise ValueError(f"constraint {constraint.label!r} needs the baseline's value")
    step = bound * abs(baseline) if kind.startswith("max_relative") else bound
    return float(baseline - step if kind.endswith("drop") else baseline + step)


def derive_bounds(
    objective: ObjectiveSpec,
    constraints: Iterable[Constraint],
    baselines: Sequence[dict[str, float]] = (),
) -> tuple[float, float]:
    """The hypervolume bounds of an objective whose study file sets none (rules above).

    Args:
        objective: The objective, with its default bounds.
        constraints: The study's constraints (those on other objectives are ignored).
        baselines: The baseline's values of each architecture the study searches (needed
            when a relative constraint bounds this objective; default none).

    Returns:
        ``(low, high)``, low < high.

    Raises:
        ValueError: A relative constraint on this objective and no baseline value of it.
    """
    lo, hi = objective.bounds
    maximize = objective.direction == "maximize"
    worst, best = (lo, hi) if maximize else (hi, lo)
    tighter = max if maximize else min  # of two worst edges, the one a feasible model meets
    looser = min if maximize else max
    worse_edges, better_edges = [], []
    for c in constraints:
        if c.objective != objective.name:
            continue
        if c.relative:
            values = [b[c.objective] for b in baselines if c.objective in b]
            if not values:
                raise ValueError(
                    f"constraint {c.label!r}: the baseline's {c.objective} is needed to derive "
                    "its hypervolume bounds"
                )
            edge = looser(constraint_edge(c, v) for v in values)
        else:
            edge = constraint_edge(c)
        (worse_edges if c.kind in WORSE_SIDE[objective.direction] else better_edges).append(edge)
    if worse_edges:
        worst = tighter(worse_edges)
    if better_edges:
        best = looser([best, *better_edges])  # the cap, when below the best value reachable
    low, high = (worst, best) if maximize else (best, worst)
    if not low < high:
        return (float(lo), float(hi))
    return (float(low), float(high))


def study_bounds(
    cfg: StudyConfig, baseline_of: Callable[[str], dict[str, float]] | None = None
) -> list[tuple[float, float]]:
    """Every optimized objective's hypervolume bounds: as the study file sets them, or
    derived (:func:`derive_bounds`) for those in ``cfg.unset_bounds``.

    Args:
        cfg: The validated study configuration.
        baseline_of: Architecture name -> the baseline's values (called only when a
            relative constraint bounds an objective whose bounds are derived; default None:
            no baseline). Where it has no value (None, a ``LookupError``, or the objective
            left out), that objective keeps its default bounds (see above).
    """
    out = []
    for o in cfg.objectives:
        if o.name not in cfg.unset_bounds:
            out.append(tuple(o.bounds))
            continue
        needs = any(c.relative and c.objective == o.name for c in cfg.constraints)
        baselines: list[dict[str, float]] = []
        if needs:
            try:
                baselines = (
                    [baseline_of(a) for a in cfg.space.archs(cfg.arch)] if baseline_of else []
                )
            except LookupError:
                baselines = []
            if not baselines or any(o.name not in b for b in baselines):
                out.append(tuple(o.bounds))  # no feasible model: nothing to normalize
                continue
        out.append(derive_bounds(o, cfg.constraints, baselines))
    return out
