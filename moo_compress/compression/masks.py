"""Deprecated: moved to :mod:`moo_compress.weights.masks` (this path goes in the next
release)."""

from __future__ import annotations

import importlib
import warnings


def __getattr__(name: str):
    module = importlib.import_module("moo_compress.weights.masks")
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(
        f"moo_compress.compression.masks.{name} moved to moo_compress.weights.masks.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(module, name)
