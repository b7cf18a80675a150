"""Typed access to a parsed YAML mapping that reports errors with file and key path.

:func:`load_yaml` is the one place that reads a study or search-space file: it refuses
files that are too large, not UTF-8, unreadable, or hostile (alias bombs, recursive or very
deep structures) and keys repeated in a mapping, each as a one-line :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from moo_compress.errors import ConfigError

__all__ = [
    "MAX_ALIASES",
    "MAX_ALIAS_GROWTH",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_PATH_CHARS",
    "Section",
    "check_float",
    "check_int",
    "check_storage_url",
    "describe",
    "file_problem",
    "load_yaml",
    "read_settings",
]

_MISSING = object()

MAX_FILE_BYTES = 1_000_000
"""Largest study or search-space file read (bytes); real ones are a few kilobytes."""
MAX_ALIASES = 100
"""Most YAML aliases (``*name``) in one file."""
MAX_ALIAS_GROWTH = 10_000
"""Most values that aliases may add to a file's own (an alias bomb adds billions)."""
MAX_DEPTH = 50
"""Deepest nesting of mappings and lists."""
MAX_PATH_CHARS = 1024
"""Longest file or folder path a config value may give."""

_DESCRIBE_CHARS = 60
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(value: Any, budget: int, depth: int) -> str:
    """``repr``-like text of ``value`` of about ``budget`` characters, computed without ever
    rendering more than that (a value may be a 1 MB string or a list nested a billion
    times through YAML aliases)."""
    if isinstance(value, (str, bytes)):
        if len(value) <= budget:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{repr(value[:budget])}... ({len(value)} {unit})"
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 200:
            return f"<an int of {value.bit_length()} bits>"
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        if isinstance(value, Mapping):
            opening, closing = "{", "}"
        elif isinstance(value, tuple):
            opening, closing = "(", ")"
        elif isinstance(value, list):
            opening, closing = "[", "]"
        else:
            opening, closing = "{", "}"
        if depth >= 3:
            return f"{opening}...{closing}" if len(value) else f"{opening}{closing}"
        parts: list[str] = []
        used = 0
        items = value.items() if isinstance(value, Mapping) else value
        for item in items:
            if used >= budget:
                parts.append("...")
                break
            if isinstance(value, Mapping):
                k, v = item
                text = f"{_render(k, budget - used, depth + 1)}: {_render(v, budget - used, depth + 1)}"
            else:
                text = _render(item, budget - used, depth + 1)
            parts.append(text)
            used += len(text) + 2
        return f"{opening}{', '.join(parts)}{closing}"
    return _cut(repr(value), max(budget, 10))


def describe(value: Any) -> str:
    """Render a bad value for an error message (YAML-ish, short).

    Long strings and containers are cut *before* they are rendered, so the message stays
    one short line whatever the value is.

    Args:
        value: Any value read from a file or given on the command line.

    Returns:
        About 60 characters: ``true``/``false``, ``null`` or a ``repr``-like text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return _render(value, _DESCRIBE_CHARS, 0)


def _key_text(name: Any) -> str:
    text = name if isinstance(name, str) else describe(name)
    return _cut(text, _DESCRIBE_CHARS)


class Section:
    """A mapping of the config file together with where it came from.

    Every reader takes the key's ``name`` and a ``default`` used when the key is missing
    (without a default the key is required). For :meth:`string`, :meth:`path_string`,
    :meth:`integer` and :meth:`number` a ``None`` default lets the key be missing or null,
    and None is returned.

    Args:
        data: The mapping read from YAML.
        source: The file name used in error messages.
        path: The dotted key path of this mapping inside the file (default ``""``: the top
            level).

    Raises:
        ConfigError: ``data`` is not a mapping.
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

    def key(self, name: Any) -> str:
        """The dotted path of key ``name`` in this mapping, for messages.

        Args:
            name: The key (a non-string key is rendered with :func:`describe`).
        """
        name = _key_text(name)
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ConfigError:
        """A :class:`ConfigError` about key ``name`` of this mapping (to raise).

        Args:
            name: The key.
            message: What is wrong, as one sentence.
        """
        return ConfigError(self.source, self.key(name), message)

    def has(self, name: str) -> bool:
        """Whether the mapping has key ``name`` (the key is not marked as read).

        Args:
            name: The key.
        """
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """The value of ``name`` unchecked, marking the key as read.

        Args:
            name: The key.
            default: Returned when the key is missing (without one the key is required).

        Raises:
            ConfigError: A required key is missing (reported as the unknown key it is when
                an unread key is a close misspelling of it).
        """
        self._used.add(name)
        if name not in self.data:
            if default is _MISSING:
                # a misspelt required key is reported as the unknown key it is
                unread = [k for k in self.data if isinstance(k, str) and k not in self._used]
                close = difflib.get_close_matches(name, unread, n=1)
                if close:
                    raise self.error(
                        close[0],
                        f"is not a known key (did you mean {name}?). Got {describe(close[0])} instead.",
                    )
                raise self.error(name, "is required but missing.")
            return default
        return self.data[name]

    def expect(self, allowed: Iterable[str]) -> None:
        """Reject, before any value is read, keys that are not in ``allowed``.

        Sections with required keys call this first, so a misspelt key is reported as
        unknown instead of as the required key it was meant to be.

        Args:
            allowed: Every key this mapping may have.

        Raises:
            ConfigError: A key is not in ``allowed`` (with the closest allowed one).
        """
        allowed = list(allowed)
        for name in self.data:
            if name not in allowed:
                raise self._unknown(name, allowed)

    def _unknown(self, name: Any, allowed: Iterable[str]) -> ConfigError:
        allowed = sorted(allowed)
        hint = ""
        if isinstance(name, str):
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
        return self.error(
            name,
            f"is not a known key{hint}. Allowed keys here: {{{', '.join(allowed) or 'none'}}}. "
            f"Got {describe(name)} instead.",
        )

    def path_string(self, name: str, default: Any = _MISSING) -> str:
        """A non-empty string naming a file or folder (at most :data:`MAX_PATH_CHARS`
        characters, no NUL character).

        Args:
            name: The key.
            default: Used when the key is missing (without one the key is required).

        Raises:
            ConfigError: The value is not such a string.
        """
        value = self.string(name, default)
        if value is not None and (len(value) > MAX_PATH_CHARS or "\0" in value):
            raise self.error(
                name,
                f"must be a file or folder path of at most {MAX_PATH_CHARS} characters without "
                f"NUL characters. Got {describe(value)} instead.",
            )
        return value

    def section(self, name: str, default: Any = _MISSING) -> Section:
        """The nested mapping ``name`` as a :class:`Section` (empty when missing or null).

        Args:
            name: The key.
            default: Used when the key is missing (default: an empty mapping).

        Raises:
            ConfigError: The value is not a mapping.
        """
        value = self.raw(name, {} if default is _MISSING else default)
        if value is None:
            value = {}
        return Section(value, self.source, self.key(name))

    def string(
        self, name: str, default: Any = _MISSING, choices: Iterable[str] | None = None
    ) -> str:
        """A non-empty string, or one of ``choices``.

        Args:
            name: The key.
            default: Used when the key is missing (without one the key is required).
            choices: The allowed values (default None: any non-empty string).

        Raises:
            ConfigError: The value is not a non-empty string or not one of ``choices``.
        """
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
        """An int (not a bool) in [``low``, ``high``].

        Args:
            name: The key.
            default: Used when the key is missing (without one the key is required).
            low: Smallest allowed value (default None: no bound).
            high: Largest allowed value (default None: no bound).

        Raises:
            ConfigError: The value is not such an int.
        """
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
        """A finite number (int or float, not a bool) in the range, as a float.

        Args:
            name: The key.
            default: Used when the key is missing (without one the key is required).
            low: Smallest allowed value (default None: no bound).
            high: Largest allowed value (default None: no bound).
            low_open: Exclude ``low`` itself (default False).

        Raises:
            ConfigError: The value is not such a number.
        """
        value = self.raw(name, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        check_float(value, low, high, lambda msg: self.error(name, msg), low_open=low_open)
        return float(value)

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        """``true`` or ``false``.

        Args:
            name: The key.
            default: Used when the key is missing (without one the key is required).

        Raises:
            ConfigError: The value is not a bool.
        """
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false. Got {describe(value)} instead.")
        return value

    def finish(self) -> None:
        """Reject keys that no reader asked for (typos, unsupported options).

        Raises:
            ConfigError: A key was never read (with the closest key that was).
        """
        unknown = [k for k in self.data if k not in self._used]
        if unknown:
            raise self._unknown(unknown[0], [str(k) for k in self._used])


def file_problem(path: Path) -> str | None:
    """None if ``path`` is a regular file this process can look at, else what is wrong.

    Args:
        path: The file.

    Returns:
        None, or the end of a sentence about ``path`` (``"does not exist"``,
        ``"is a directory, not a file"``, ...).
    """
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except (OSError, ValueError) as exc:
        return f"cannot be read ({_os_error_text(exc)})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _os_error_text(exc: BaseException) -> str:
    detail = getattr(exc, "strerror", None) or str(exc)
    return _cut(f"{type(exc).__name__}: {detail}", 120)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses alias bombs and very deep nesting while composing."""

    def __init__(self, stream: str, source: str, what: str) -> None:
        super().__init__(stream)
        self.source = source
        self.what = what
        self.n_aliases = 0
        self.depth = 0

    def _line(self) -> int:
        return self.peek_event().start_mark.line + 1

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.n_aliases += 1
            if self.n_aliases > MAX_ALIASES:
                raise ConfigError(
                    self.source,
                    "",
                    f"uses more than {MAX_ALIASES} YAML aliases (the {MAX_ALIASES + 1}st at line "
                    f"{self._line()}); a {self.what} file needs at most {MAX_ALIASES}, so it is "
                    "refused as a possible alias bomb.",
                )
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ConfigError(
                    self.source,
                    "",
                    f"nests mappings and lists deeper than {MAX_DEPTH} levels (line "
                    f"{self._line()}); a {self.what} file needs a few.",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = f"{exc.context}: " if exc.context else ""
        return _cut(f"{context}{exc.problem}{where}", 200)
    text = str(exc)
    return _cut(text.splitlines()[0] if text else type(exc).__name__, 200)


def _children(node: yaml.Node, path: str):
    """(child node, key path, is a mapping key) of a composed node."""
    if isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            yield child, f"{path}[{i}]", False
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key, path, True
            if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                yield value, path, False
            else:
                name = _key_text(key.value)
                yield value, f"{path}.{name}" if path else name, False


def _check_nodes(root: yaml.Node, loader: _Loader) -> None:
    """Refuse repeated keys, recursive aliases and alias expansion beyond the limits.

    Every distinct node is visited once; the size a node would have once every alias is
    expanded is computed from its children's, so a billion-laughs file costs microseconds.
    """
    source = loader.source
    sizes: dict[int, int] = {}  # id(node) -> number of values once aliases are expanded
    heights: dict[int, int] = {}  # id(node) -> levels of nesting once aliases are expanded
    active: set[int] = set()

    def where(path: str) -> str:
        return path or "<top level>"

    def visit(node: yaml.Node, path: str, depth: int) -> int:
        ident = id(node)
        line = node.start_mark.line + 1
        if ident in active:
            raise ConfigError(
                source,
                where(path),
                f"is a recursive YAML alias (line {line}): a value cannot contain itself.",
            )
        if ident not in sizes:
            active.add(ident)
            sizes[ident], heights[ident] = expand(node, path, depth)
            active.discard(ident)
        if depth + heights[ident] > MAX_DEPTH:
            raise ConfigError(
                source,
                where(path),
                f"nests mappings and lists deeper than {MAX_DEPTH} levels through YAML aliases "
                f"(line {line}).",
            )
        return sizes[ident]

    def expand(node: yaml.Node, path: str, depth: int) -> tuple[int, int]:
        seen: dict[Any, tuple[int, int]] = {}
        total, height = 1, 0
        for child, child_path, is_key in _children(node, path):
            if is_key and isinstance(child, yaml.ScalarNode) and child.tag != _MERGE_TAG:
                key = loader.construct_object(child)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: the constructor reports it
                    first = None
                name = _key_text(key)
                key_path = f"{path}.{name}" if path else name
                here = (child.start_mark.line + 1, child.start_mark.column + 1)
                if first is not None:
                    lines = (
                        f"twice on line {here[0]}"
                        if first[0] == here[0]
                        else f"on lines {first[0]} and {here[0]}"
                    )
                    raise ConfigError(
                        source,
                        key_path,
                        f"is given {lines} of one mapping; YAML would silently keep only the "
                        "last. Remove one of them.",
                    )
                seen[key] = here
            total += visit(child, child_path, depth + 1)
            height = max(height, heights[id(child)] + 1)
        return total, height

    expanded = visit(root, "", 0)
    limit = len(sizes) + MAX_ALIAS_GROWTH
    if expanded > limit:
        node, path = root, ""
        while isinstance(node, yaml.MappingNode):  # name the mapping key that explodes
            big = [(c, p) for c, p, k in _children(node, path) if not k and sizes[id(c)] > limit]
            if not big:
                break
            node, path = big[0]
        raise ConfigError(
            source,
            where(path),
            f"expands through YAML aliases to {expanded} values from {len(sizes)} written "
            f"(line {node.start_mark.line + 1}); at most {MAX_ALIAS_GROWTH} more are allowed, "
            "so the file is refused as a possible alias bomb ('billion laughs').",
        )


def load_yaml(path: str | Path, source: str | None = None, what: str = "study") -> Any:
    """Read one YAML document safely: the only reader of study and search-space files.

    Args:
        path: The file.
        source: Name used in error messages (defaults to ``path``).
        what: What the file is, for messages ("study", "search-space").

    Returns:
        The document (None for an empty file).

    Raises:
        ConfigError: The file is missing, unreadable, larger than :data:`MAX_FILE_BYTES`,
            not UTF-8, not valid YAML, repeats a key in a mapping, uses more than
            :data:`MAX_ALIASES` aliases, aliases that expand to more than
            :data:`MAX_ALIAS_GROWTH` extra values or a recursive alias, or nests deeper
            than :data:`MAX_DEPTH`.
    """
    path = Path(path)
    source = source or str(path)
    problem = file_problem(path)
    if problem == "does not exist":
        raise ConfigError(source, "", f"{what} file not found.")
    if problem:
        raise ConfigError(source, "", f"{problem}; expected a {what} file (YAML).")
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            raw = b"" if size > MAX_FILE_BYTES else fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            source, "", f"cannot read the {what} file ({_os_error_text(exc)})."
        ) from None
    size = max(size, len(raw))
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            source,
            "",
            f"is too large for a {what} file: at most {MAX_FILE_BYTES} bytes (1 MB) are read. "
            f"Got {size} bytes instead.",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            source,
            "",
            f"must be UTF-8 text. Got byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}) instead; save the file as UTF-8.",
        ) from None
    loader = _Loader(text, source, what)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_nodes(root, loader)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"is not valid YAML ({_yaml_problem(exc)}).") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an int of 5000 digits
        raise ConfigError(
            source,
            "",
            f"holds a value that cannot be read ({_cut(type(exc).__name__ + ': ' + str(exc), 160)}).",
        ) from None
    finally:
        loader.dispose()


def read_settings(
    sec: Section, cls: type, *, defaults: Any = None, skip: Iterable[str] = ()
) -> Any:
    """A section read into the dataclass ``cls`` from its fields alone: each field made by
    :func:`moo_compress.settings.setting` states its default, type and range; the messages
    are :class:`Section`'s. Unknown keys are refused.

    Args:
        sec: The section.
        cls: The settings dataclass.
        defaults: An instance of ``cls`` whose values are the defaults instead of the
            fields' (default None: the fields'), for a class read by several sections.
        skip: Fields the section does not set (they keep the default).

    Raises:
        ConfigError: A value of the wrong type or out of range, or an unknown key.
    """
    import dataclasses

    from moo_compress._utils.registry import import_target  # importlib only: the floor layer

    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "kind" not in meta:
            continue
        default = getattr(defaults, f.name) if defaults is not None else f.default
        if f.name in skip:
            values[f.name] = default
        elif meta["kind"] == "int":
            values[f.name] = sec.integer(f.name, default, low=meta["low"], high=meta["high"])
        elif meta["kind"] == "float":
            values[f.name] = sec.number(
                f.name, default, low=meta["low"], high=meta["high"], low_open=meta["low_open"]
            )
        elif meta["kind"] == "choice":
            values[f.name] = sec.string(f.name, default, choices=list(meta["choices"]))
        elif meta["kind"] == "target":
            values[f.name] = _callable_target(sec, f.name, default, import_target)
        else:
            values[f.name] = sec.boolean(f.name, default)
    sec.finish()
    return cls(**values)


def _callable_target(sec: Section, key: str, default: Any, import_target) -> str | None:
    """A ``"package.module:callable"`` of the user's code, imported now (it must import
    wherever the search runs, as a model builder must)."""
    target = sec.string(key, default)
    if target is None:
        return None
    if target.count(":") != 1 or not all(target.split(":")):
        raise sec.error(key, f"must be 'package.module:callable'. Got {describe(target)} instead.")
    try:
        obj = import_target(target)
    except (ImportError, AttributeError) as exc:
        raise sec.error(key, f"cannot import {target!r} ({exc})") from None
    if not callable(obj):
        raise sec.error(key, f"must name a callable. Got {target!r}, a {type(obj).__name__}.")
    return target


def check_storage_url(value: Any, source: str, key: str = "", *, secret: bool = False) -> str:
    """An Optuna storage URL (it has ``://``), the one check of every place one is given
    (the study file's ``storage``, ``--storage``, ``MOO_COMPRESS_STORAGE``).

    Args:
        value: The given value.
        source: Where it came from (the study file, a flag, a variable).
        key: The key path in ``source`` (default: none).
        secret: Do not show the value (it may hold a password; its length is shown).

    Returns:
        The URL.

    Raises:
        ConfigError: It is not a string with ``://``.
    """
    if isinstance(value, str) and "://" in value:
        return value
    got = f"Got {describe(value)} instead."
    if secret and isinstance(value, str):
        got = (
            f"Got {len(value)} characters without '://' instead (not shown: they may hold a "
            "password)."
        )
    raise ConfigError(
        source,
        key,
        f"must be an Optuna storage URL such as sqlite:///path.db or postgresql://host/db. {got}",
    )


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def check_int(
    value: Any, low: int | None, high: int | None, error: Callable[[str], Exception]
) -> None:
    """Check that ``value`` is an int (not a bool) in [``low``, ``high``].

    Args:
        value: The value read.
        low: Smallest allowed value (None: no bound).
        high: Largest allowed value (None: no bound).
        error: Makes the exception to raise from a message.

    Raises:
        Exception: ``error(message)`` when the check fails.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(
            f"must be an int {_range_text(low, high)}. Got {describe(value)} instead.".replace(
                "int  .", "int."
            )
        )
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(f"must be an int {_range_text(low, high)}. Got {describe(value)} instead.")


def check_float(
    value: Any,
    low: float | None,
    high: float | None,
    error: Callable[[str], Exception],
    low_open: bool = False,
) -> None:
    """Check that ``value`` is a finite int or float (not a bool) in the range.

    Args:
        value: The value read.
        low: Smallest allowed value (None: no bound).
        high: Largest allowed value (None: no bound).
        error: Makes the exception to raise from a message.
        low_open: Exclude ``low`` itself (default False).

    Raises:
        Exception: ``error(message)`` when the check fails.
    """
    text = _range_text(low, high, low_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise error(f"must be a number {text}. Got {describe(value)} instead.")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        raise error(f"must be a number {text}. Got {describe(value)} instead.")
