"""Atomic file writes: a file appears complete or not at all, and a failed write (a full
disk) leaves no temporary file behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["atomic_save_npy", "atomic_write"]


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk must not keep a half-written file
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place.

    Args:
        path: The file (its folder is created).
        data: The bytes.
    """
    _atomic(Path(path), lambda fh: fh.write(data))


def atomic_save_npy(path: Path, array: Any) -> None:
    """:func:`numpy.save` ``array`` (never pickled) to ``path`` atomically.

    Args:
        path: The ``.npy`` file.
        array: A NumPy array.
    """
    import numpy as np

    _atomic(Path(path), lambda fh: np.save(fh, array, allow_pickle=False))
