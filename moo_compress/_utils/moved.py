"""Old module paths kept for one release: attribute access warns and forwards."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_to"]


def moved_to(old: str, new: str) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for the old module ``old``: each attribute comes from
    ``new`` with a ``DeprecationWarning`` naming both paths.

    Args:
        old: The old module's name.
        new: The module it moved to.
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(f"{old}.{name} moved to {new}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
