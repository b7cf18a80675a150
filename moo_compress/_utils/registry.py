"""A tiny name -> lazily imported object registry, shared by every pluggable room."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["Registry", "import_target"]


class Registry:
    """Maps names to ``"module:attribute"`` targets imported on first use.

    Args:
        kind: What the entries are ("dataset", "objective", ...), used in messages.
        entries: Name to import target.
    """

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def register(self, name: str, target: str) -> None:
        """Add or replace an entry; a replaced entry is imported again on its next use.

        Args:
            name: The entry's name.
            target: ``"module:attribute"`` to import on first use.
        """
        self._entries[name] = target
        self._loaded.pop(name, None)

    def get(self, name: str) -> Any:
        """The object an entry names, imported on the first call and cached.

        Args:
            name: A registered name.

        Raises:
            KeyError: The name is not registered (the message lists the known names).
        """
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}")
        if name not in self._loaded:
            self._loaded[name] = import_target(self._entries[name])
        return self._loaded[name]


def import_target(target: str) -> Any:
    """The object a ``"module:attribute"`` string names (imported now).

    Args:
        target: ``"module:attribute"``.
    """
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
