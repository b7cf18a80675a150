"""Drivers meet the search through the ``Session`` protocol alone: every ``session.<name>``
a driver module reads is a member of :class:`moo_compress.drivers.base.Session`, and the
search's session implements every member."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from moo_compress.drivers import DRIVER_INFO
from moo_compress.drivers.base import Session

DRIVERS = Path(__file__).resolve().parents[2] / "moo_compress" / "drivers"
MEMBERS = {n for n in dir(Session) if not n.startswith("_")} | set(Session.__annotations__)


def _session_attributes(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "session"
    }


@pytest.mark.parametrize("module", sorted({i.target.split(":")[0] for i in DRIVER_INFO.values()}))
def test_a_driver_uses_only_the_session_protocol(module):
    path = DRIVERS.parent.parent / (module.replace(".", "/") + ".py")
    used = _session_attributes(path)
    assert used, f"{module} reads nothing of its session?"
    assert used <= MEMBERS, sorted(used - MEMBERS)


def test_the_search_session_implements_the_protocol():
    from moo_compress.search import SearchSession

    missing = [
        n for n in MEMBERS if not hasattr(SearchSession, n) and n not in Session.__annotations__
    ]
    assert missing == []
