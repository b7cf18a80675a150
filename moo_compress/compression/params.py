"""The variables of the compression pipeline: their domains and their values when not searched.

A search space (``search_spaces/*.yaml``) may search over, fix, narrow or remove each of
these; a removed variable takes its ``default``, which always means "this stage is off"
or a neutral setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamDomain:
    """What values one pipeline variable may take.

    Args:
        name: Variable name as written in search-space files.
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        default: Value used when the variable is not in the search space.
        allowed: Human-readable description used in error messages.
        contains: Predicate telling whether a single value is allowed.
        low: Smallest allowed value for numeric kinds (for range checks).
        high: Largest allowed value for numeric kinds.
    """

    name: str
    kind: str
    default: Any
    allowed: str
    contains: Callable[[Any], bool]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


PARAMETERS: dict[str, ParamDomain] = {
    p.name: p
    for p in [
        ParamDomain(
            name="prune_ratio",
            kind="float",
            default=0.0,
            allowed="a float in [0, 0.95]",
            contains=lambda v: _is_num(v) and 0.0 <= v <= 0.95,
            low=0.0,
            high=0.95,
        ),
        ParamDomain(
            name="prune_granularity",
            kind="categorical",
            default="unstructured",
            allowed="one of {unstructured, filter}",
            contains=lambda v: v in ("unstructured", "filter"),
            choices=("unstructured", "filter"),
        ),
        ParamDomain(
            name="cluster_count",
            kind="int",
            default=0,
            allowed="0 (clustering off) or an int in [4, 256]",
            contains=lambda v: _is_int(v) and (v == 0 or 4 <= v <= 256),
            low=0,
            high=256,
        ),
        ParamDomain(
            name="quant_bits",
            kind="int",
            default=32,
            allowed="an int in [2, 8], or 32 (not quantized)",
            contains=lambda v: _is_int(v) and (2 <= v <= 8 or v == 32),
            low=2,
            high=32,
        ),
        ParamDomain(
            name="finetune_epochs",
            kind="int",
            default=1,
            allowed="an int in [0, 50]",
            contains=lambda v: _is_int(v) and 0 <= v <= 50,
            low=0,
            high=50,
        ),
    ]
}
