"""What every objective receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ObjectiveResult", "UndefinedObjective"]


@dataclass
class ObjectiveResult:
    """An objective's value and the details stored with the trial (e.g. per-corruption CE).

    Args:
        value: The objective's value, in the unit of its ``ObjectiveInfo``.
        details: JSON-serialisable facts stored with the trial's result (default: empty).
    """

    value: float
    details: dict[str, Any] = field(default_factory=dict)


class UndefinedObjective(ValueError):
    """The objective has no value for this model (for example relative mCE when the
    reference makes no more error on any corruption than on clean images). The trial stores
    the reason instead of a value; it fails only if the study optimizes that objective."""
