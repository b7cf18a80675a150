"""A user's images as arrays: a folder of ``.npy`` files (what the Python API writes from
the user's own datasets), or one ``.npz`` file.

They hold uint8 images ``x_train``, ``x_test`` (and optionally ``x_val``), each
(N, H, W, 3), with integer labels ``y_train``, ``y_test`` (``y_val``). ``.npy`` files are read
memory-mapped, so a set larger than memory is never held in it; an ``.npz`` is read into
memory. Both are read with ``allow_pickle=False``: a file that would need unpickling is
refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from moo_compress.data.base import ImageDataset
from moo_compress.errors import DataError

__all__ = ["REQUIRED_ARRAYS", "check_options", "load_arrays", "save_arrays"]

#: The arrays every file holds.
REQUIRED_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays (uncompressed ``.npz``).

    Args:
        path: The file.
        arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optionally ``x_val``,
            ``y_val``.
    """
    np.savez(path, **arrays)


def load_arrays(*, seed: int, root: str) -> ImageDataset:
    """The dataset in a folder of ``.npy`` files or an ``.npz`` file.

    Args:
        seed: Unused (the splits are the user's); taken as every loader's.
        root: The folder, or the ``.npz`` file.

    Raises:
        DataError: The file is not such a set of arrays.
    """
    path = Path(root)
    try:
        if path.is_dir():
            arrays = {
                f"{xy}_{split}": np.load(f, mmap_mode="r", allow_pickle=False)
                for xy in "xy"
                for split in ("train", "val", "test")
                if (f := path / f"{xy}_{split}.npy").is_file()
            }
        else:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not readable image arrays ({exc})") from None
    missing = [k for k in REQUIRED_ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"{path}: has no array {missing[0]!r}")
    for x in [k for k in arrays if k.startswith("x_")]:
        a = arrays[x]
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 3:
            raise DataError(
                f"{path}: {x} must be uint8 images (N, H, W, 3); got {a.dtype} {a.shape}"
            )
        if len(arrays.get("y" + x[1:], ())) != len(a):
            raise DataError(f"{path}: {x} and its labels differ in length")
    y = {k: np.asarray(arrays[k]).astype(np.int64) for k in arrays if k.startswith("y_")}
    return ImageDataset(
        name=f"arrays:{path.stem}",
        x_train=arrays["x_train"],
        y_train=y["y_train"],
        x_test=arrays["x_test"],
        y_test=y["y_test"],
        num_classes=int(max(int(v.max()) for v in y.values() if len(v)) + 1),
        x_val=arrays.get("x_val"),
        y_val=y.get("y_val"),
    )


def check_options(name: str, options: dict) -> tuple[str, str] | None:
    """The file must exist.

    Args:
        name: The dataset's name.
        options: Its options as read.

    Returns:
        None, or ``(key, problem)``.
    """
    path = Path(options["root"])
    if not path.exists():
        return "root", (
            f"must name a folder of .npy image arrays or an .npz file; {path} does not exist"
        )
    return None
