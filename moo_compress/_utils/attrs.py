"""JSON values in Optuna attributes of at most 1,024 characters each.

optuna-dashboard cuts attribute values at 1,024 characters (a longer JSON value then shows
as broken JSON). :func:`put_json` stores a value whose JSON is short enough under its key
and splits a longer one into string parts ``<key>.0``, ``<key>.1``... followed by
``<key>.parts`` (their count, written last: a reader that sees it sees every part);
:func:`get_json` reads either form.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_CHARS", "get_json", "has_json", "put_json"]

#: Longest stored JSON text of one attribute value.
MAX_CHARS = 1024
_MISSING = object()


def _parts(text: str) -> list[str]:
    """Split ``text`` so that each part's own JSON encoding fits in :data:`MAX_CHARS`."""
    parts, start = [], 0
    while start < len(text):
        size = min(MAX_CHARS - 2, len(text) - start)
        while len(json.dumps(text[start : start + size])) > MAX_CHARS:
            size = max(1, size * 3 // 4)
        parts.append(text[start : start + size])
        start += size
    return parts


def put_json(set_attr: Callable[[str, Any], None], key: str, value: Any) -> None:
    """Store ``value`` under ``key`` with ``set_attr`` (e.g. ``trial.set_user_attr``), split
    into parts when its JSON is longer than :data:`MAX_CHARS`.

    Args:
        set_attr: Sets one attribute.
        key: The attribute's name.
        value: A JSON-serialisable value.
    """
    if len(json.dumps(value)) <= MAX_CHARS:  # as Optuna stores it
        set_attr(key, value)
        return
    parts = _parts(json.dumps(value, separators=(",", ":")))
    for i, part in enumerate(parts):
        set_attr(f"{key}.{i}", part)
    set_attr(f"{key}.parts", len(parts))


def has_json(attrs: Mapping[str, Any], key: str) -> bool:
    """Whether ``attrs`` hold a complete value under ``key`` (whole or in parts).

    Args:
        attrs: The attributes (``trial.user_attrs``, ``study.user_attrs``).
        key: The attribute's name.
    """
    return key in attrs or f"{key}.parts" in attrs


def get_json(attrs: Mapping[str, Any], key: str, default: Any = _MISSING) -> Any:
    """The value stored under ``key`` by :func:`put_json` (or set whole by older code).

    Args:
        attrs: The attributes (``trial.user_attrs``, ``study.user_attrs``).
        key: The attribute's name.
        default: Returned when there is none (without one: ``KeyError``).

    Raises:
        KeyError: No value and no default.
    """
    if key in attrs:
        return attrs[key]
    n = attrs.get(f"{key}.parts")
    if n is None:
        if default is _MISSING:
            raise KeyError(key)
        return default
    return json.loads("".join(attrs[f"{key}.{i}"] for i in range(int(n))))
