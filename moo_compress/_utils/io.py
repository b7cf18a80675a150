"""Atomic file writes: a file appears complete or not at all, and a failed write (a full
disk) leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_memmap", "atomic_save_npy", "atomic_write", "take_rows"]


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


@contextlib.contextmanager
def atomic_memmap(path: Path, shape: tuple[int, ...], dtype: Any = "uint8") -> Iterator[Any]:
    """A new ``.npy`` file filled in place through a memory map, then renamed into place: an
    array larger than memory is written one piece at a time, and an interrupted write leaves
    no file that looks complete.

    Args:
        path: The ``.npy`` file.
        shape: The array's shape.
        dtype: Its dtype (default uint8).

    Yields:
        The writable memory-mapped array.
    """
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=tuple(shape))
        yield out
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def take_rows(x: Any, rows: Any, *, chunk: int = 1024) -> Any:
    """``x[rows]`` without holding it in memory when ``x`` is a memory-mapped ``.npy`` file:
    the rows are copied piece by piece to a file beside it (named by the rows' digest, kept
    for the next run) and returned memory-mapped. Other arrays are indexed as usual.

    Args:
        x: An array, or a ``numpy.memmap`` of a ``.npy`` file.
        rows: Integer row indices.
        chunk: Rows copied at a time (default 1024).
    """
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    source = getattr(x, "filename", None)
    if not isinstance(x, np.memmap) or source is None:
        return x[rows]
    source = Path(source)
    digest = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    path = source.with_name(f"{source.stem}.rows-{digest}.npy")
    if not path.exists():
        with atomic_memmap(path, (len(rows), *x.shape[1:]), x.dtype) as out:
            for i in range(0, len(rows), chunk):
                out[i : i + chunk] = x[rows[i : i + chunk]]
    return np.load(path, mmap_mode="r", allow_pickle=False)
