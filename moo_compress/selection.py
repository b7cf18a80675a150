"""Constraints that pick models from the front: ``accuracy>=95 and cr>=8``.

Clauses ``<objective> <op> <number>`` joined by ``and``; ``op`` is one of >=, <=, >, <, ==.
Parsed, never evaluated as code.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from moo_compress.errors import ConfigError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_CLAUSE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|>|<)\s*"
    r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$"
)


@dataclass(frozen=True)
class Clause:
    name: str
    op: str
    value: float

    def holds(self, values: dict[str, float]) -> bool:
        return _OPS[self.op](values[self.name], self.value)


def parse_selection(text: str, known: list[str]) -> list[Clause]:
    """Parse ``text``; ``known`` are the objectives the models have values for.

    Raises:
        ConfigError: A clause is malformed or names an unknown objective.
    """
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if m is None:
            raise ConfigError(
                "--select",
                "",
                f"must be clauses like 'accuracy>=95 and cr>=8' (<objective> <op> <number>, op one of >=, <=, >, <, ==). Got {part.strip()!r} instead.",
            )
        name, op, number = m.groups()
        if name not in known:
            raise ConfigError(
                "--select",
                "",
                f"names an objective the study did not record. Allowed: {{{', '.join(known)}}}. Got {name!r} instead.",
            )
        clauses.append(Clause(name, op, float(number)))
    return clauses


def select(values: dict[str, float], clauses: list[Clause]) -> bool:
    return all(c.holds(values) for c in clauses)
