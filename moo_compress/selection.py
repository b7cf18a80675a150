"""Constraints that pick models from the front: ``accuracy>=95 and cr>=8``.

Clauses ``<objective> <op> <number>`` joined by ``and``; ``op`` is one of >=, <=, >, <, ==.
Parsed, never evaluated as code.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from moo_compress.errors import ConfigError

__all__ = ["Clause", "parse_selection", "select"]

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_CLAUSE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|>|<)\s*"
    r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$"
)


@dataclass(frozen=True)
class Clause:
    """One parsed ``<objective> <op> <number>`` clause.

    Args:
        name: The objective's name.
        op: One of ``>=``, ``<=``, ``>``, ``<``, ``==``.
        value: The number the objective's value is compared with.
    """

    name: str
    op: str
    value: float

    def holds(self, values: dict[str, float]) -> bool:
        """Whether ``values[name] <op> value`` holds (``values`` must contain ``name``)."""
        return _OPS[self.op](values[self.name], self.value)


def parse_selection(text: str, known: list[str]) -> list[Clause]:
    """Parse a selection such as ``accuracy>=95 and cr>=8`` (``and`` in any case).

    Args:
        text: The clauses, joined by ``and``.
        known: The objectives the models have values for; a clause may name only these.

    Raises:
        ConfigError: A clause is malformed or names an unknown objective.
    """
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if m is None:
            raise ConfigError(
                "select",
                "",
                f"must be clauses like 'accuracy>=95 and cr>=8' (<objective> <op> <number>, op one of >=, <=, >, <, ==). Got {part.strip()!r} instead.",
            )
        name, op, number = m.groups()
        if name not in known:
            raise ConfigError(
                "select",
                "",
                f"names an objective the study did not record. Allowed: {{{', '.join(known)}}}. Got {name!r} instead.",
            )
        clauses.append(Clause(name, op, float(number)))
    return clauses


def select(values: dict[str, float], clauses: list[Clause]) -> bool:
    """Whether a model's objective values satisfy every clause (True for no clauses).

    Args:
        values: The model's value of each objective.
        clauses: Clauses from :func:`parse_selection`.
    """
    return all(c.holds(values) for c in clauses)
