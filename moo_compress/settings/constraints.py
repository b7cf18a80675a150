"""The study file's ``constraints`` section: bounds a model must meet to count.

As Intel Neural Compressor's ``accuracy_criterion``, NNCF's maximal accuracy degradation or
AIMET's targets, a constraint bounds any recorded objective, absolutely or relative to the
study's uncompressed baseline (measured on the same validation split)::

    constraints:
      accuracy: {max_drop: 1.0}        # at most 1 point below the baseline
      latency_ms: "<= 2"               # shorthand for {max: 2}
      mce: {max_relative_increase: 0.1}

Each constraint's value follows Optuna's convention (``constraints_func``): <= 0 when it is
met, else by how much it is violated, in the objective's unit (a fraction of the baseline's
value for the relative kinds). A trial's total violation is the sum of the positive values.
Where violations of several constraints are compared or summed to rank infeasible models
(pymoo's NSGA-II, mo-asha's promotions and base samplers), each is first divided by its
constraint's :attr:`Constraint.scale` (:meth:`Constraint.scaled`, :func:`scaled_values`):
a raw sum would mix units (points of accuracy with milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "KINDS",
    "Constraint",
    "allowed_kinds",
    "parse_shorthand",
    "scaled_values",
]

#: Every kind of bound: what it means, and for which direction of objective it applies
#: ("both", or the direction in which a change is a worsening).
KINDS: dict[str, tuple[str, str]] = {
    "min": ("value >= bound", "both"),
    "max": ("value <= bound", "both"),
    "max_drop": ("baseline - value <= bound (objective's unit)", "maximize"),
    "max_relative_drop": ("(baseline - value) / |baseline| <= bound (a fraction)", "maximize"),
    "max_increase": ("value - baseline <= bound (objective's unit)", "minimize"),
    "max_relative_increase": (
        "(value - baseline) / |baseline| <= bound (a fraction)",
        "minimize",
    ),
}
_SYMBOL = {"min": ">=", "max": "<="}


def allowed_kinds(direction: str) -> list[str]:
    """The kinds of bound an objective that is better when ``direction`` can take.

    Args:
        direction: ``"maximize"`` or ``"minimize"`` (the objective's default direction).
    """
    return [k for k, (_, d) in KINDS.items() if d in ("both", direction)]


def parse_shorthand(text: str) -> tuple[str, float] | None:
    """``">= 97"`` -> ``("min", 97.0)``, ``"<= 2"`` -> ``("max", 2.0)``; None if malformed.

    Args:
        text: The string given for an objective.
    """
    text = text.strip()
    for symbol, kind in ((">=", "min"), ("<=", "max")):
        if text.startswith(symbol):
            try:
                bound = float(text[len(symbol) :])
            except ValueError:
                return None
            return (kind, bound) if math.isfinite(bound) else None
    return None


@dataclass(frozen=True)
class Constraint:
    """One bound on one objective.

    Args:
        objective: The objective's name (a recorded objective of the study).
        kind: One of :data:`KINDS`.
        bound: The bound (the objective's unit; a fraction for the relative kinds).
        scale: What one unit of violation is worth when violations are summed across
            constraints (pymoo): the width of the objective's normalization bounds, or 1
            for the kinds relative to the baseline's value, which are fractions already.
    """

    objective: str
    kind: str
    bound: float
    scale: float = field(default=1.0, compare=False)

    @property
    def relative(self) -> bool:
        """Whether the bound is relative to the baseline's value."""
        return self.kind not in ("min", "max")

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``accuracy >= 97`` or ``accuracy max_drop 1``."""
        if self.kind in _SYMBOL:
            return f"{self.objective} {_SYMBOL[self.kind]} {self.bound:g}"
        return f"{self.objective} {self.kind} {self.bound:g}"

    def value(self, measured: float, baseline: float | None = None) -> float:
        """The constraint's value for a model: <= 0 when met, else by how much it is not.

        Args:
            measured: The model's value of the objective.
            baseline: The baseline's value of the objective (needed by the relative kinds).

        Raises:
            ValueError: A relative kind without the baseline's value, or relative to a
                baseline value of 0.
        """
        if self.kind == "min":
            return float(self.bound - measured)
        if self.kind == "max":
            return float(measured - self.bound)
        if baseline is None:
            raise ValueError(f"constraint {self.label!r} needs the baseline's {self.objective}")
        worse = baseline - measured if self.kind.endswith("drop") else measured - baseline
        if self.kind.startswith("max_relative"):
            if baseline == 0:
                raise ValueError(
                    f"constraint {self.label!r} is relative to a baseline {self.objective} of 0"
                )
            worse = worse / abs(baseline)
        return float(worse - self.bound)

    def scaled(self, value: float) -> float:
        """``value`` (this constraint's value for a model) on the scale shared by every
        constraint: divided by :attr:`scale`, so violations of different units can be
        compared and summed.

        Args:
            value: The constraint's value (<= 0 when met), as :meth:`value` gives it.
        """
        return float(value) / self.scale

    def to_dict(self) -> dict[str, object]:
        """As stored in the study's settings."""
        return {"objective": self.objective, "kind": self.kind, "bound": self.bound}


def scaled_values(
    constraints: Sequence[Constraint], values: Mapping[str, float]
) -> dict[str, float]:
    """Each constraint's value on the shared scale (:meth:`Constraint.scaled`), by label, in
    the order of ``constraints``; a constraint whose label ``values`` lacks (not measured,
    e.g. at a lower multi-fidelity rung) is left out.

    Args:
        constraints: The study's constraints.
        values: Constraint values by label, as stored with a trial.
    """
    return {c.label: c.scaled(values[c.label]) for c in constraints if c.label in values}
