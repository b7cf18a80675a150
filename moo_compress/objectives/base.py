"""What every objective receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ObjectiveResult:
    """An objective's value and the details stored with the trial (e.g. per-corruption CE)."""

    value: float
    details: dict[str, Any] = field(default_factory=dict)
