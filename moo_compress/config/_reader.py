"""Typed access to a parsed YAML mapping that reports errors with file and key path."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from moo_compress.errors import ConfigError

_MISSING = object()


def describe(value: Any) -> str:
    """Render a bad value for an error message (YAML-ish, short)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Section:
    """A mapping of the config file together with where it came from.

    Args:
        data: The mapping read from YAML.
        source: The file name used in error messages.
        path: The dotted key path of this mapping inside the file ("" for the top level).
    """

    def __init__(self, data: Any, source: str, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(
                source, path or "<top level>", f"must be a mapping. Got {describe(data)} instead."
            )
        self.data = dict(data)
        self.source = source
        self.path = path
        self._used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), message)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self._used.add(name)
        if name not in self.data:
            if default is _MISSING:
                raise self.error(name, "is required but missing.")
            return default
        return self.data[name]

    def section(self, name: str, default: Any = _MISSING) -> Section:
        value = self.raw(name, {} if default is _MISSING else default)
        if value is None:
            value = {}
        return Section(value, self.source, self.key(name))

    def string(
        self, name: str, default: Any = _MISSING, choices: Iterable[str] | None = None
    ) -> str:
        value = self.raw(name, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise self.error(
                    name,
                    f"must be one of {{{', '.join(allowed)}}}. Got {describe(value)} instead.",
                )
            return value
        if not isinstance(value, str) or not value:
            raise self.error(name, f"must be a non-empty string. Got {describe(value)} instead.")
        return value

    def integer(
        self, name: str, default: Any = _MISSING, low: int | None = None, high: int | None = None
    ) -> int:
        value = self.raw(name, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        check_int(value, low, high, lambda msg: self.error(name, msg))
        return int(value)

    def number(
        self,
        name: str,
        default: Any = _MISSING,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float:
        value = self.raw(name, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        check_float(value, low, high, lambda msg: self.error(name, msg), low_open=low_open)
        return float(value)

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false. Got {describe(value)} instead.")
        return value

    def finish(self) -> None:
        """Reject keys that no reader asked for (typos, unsupported options)."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            allowed = ", ".join(sorted(self._used)) or "none"
            raise self.error(
                str(unknown[0]),
                f"is not a known key. Allowed keys here: {{{allowed}}}. Got {describe(unknown[0])} instead.",
            )


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def check_int(value: Any, low: int | None, high: int | None, error) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(
            f"must be an int {_range_text(low, high)}. Got {describe(value)} instead.".replace(
                "int  .", "int."
            )
        )
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(f"must be an int {_range_text(low, high)}. Got {describe(value)} instead.")


def check_float(
    value: Any, low: float | None, high: float | None, error, low_open: bool = False
) -> None:
    text = _range_text(low, high, low_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise error(f"must be a number {text}. Got {describe(value)} instead.")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        raise error(f"must be a number {text}. Got {describe(value)} instead.")
