"""The user's own torch datasets of ``(image, label)`` pairs, read into uint8 arrays.

Two ways in: :class:`moo_compress.ImageClassificationData` (the Python API writes the
datasets into the study's folder), and a study file's ``dataset: {factory:
"package.module:callable"}``, whose callable returns the datasets (:func:`load_factory`,
which decodes them into the study's cache on every start).

An image is a PIL image, a uint8 array ``(H, W, 3)`` or a tensor ``(1 or 3, H, W)`` (float in
[0, 1], what ``transforms.ToTensor()`` gives, or uint8). Each split is read once, a batch at
a time through a DataLoader (``num_workers`` processes), straight into a memory-mapped
``.npy`` file: a set larger than memory is never held in it. Normalisation is not applied
here: corruptions and attacks work on the pixels, and the model applies its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from moo_compress._utils.io import atomic_memmap
from moo_compress._utils.registry import import_target
from moo_compress.data.base import ImageDataset
from moo_compress.errors import DataError

__all__ = ["SPLITS", "as_image", "check_options", "load_factory", "read_dataset", "write_split"]

#: The splits, in the order a factory returns three of them.
SPLITS = ("train", "val", "test")
#: Version of the reading (the image conversion); part of a factory's cache file names.
CACHE_VERSION = 1


def as_image(img: Any) -> np.ndarray:
    """One image as uint8 ``(H, W, 3)``.

    Args:
        img: A PIL image, a uint8 array (H, W, 3), or a tensor (1 or 3, H, W): float in
            [0, 1] or uint8.

    Raises:
        DataError: Any other kind of image (the message says which kinds are taken).
    """
    if hasattr(img, "convert") and hasattr(img, "size"):  # a PIL image
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if hasattr(img, "detach"):  # a tensor (C, H, W)
        t = img.detach().cpu()
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.expand(3, -1, -1) if t.shape[0] == 1 else t
            if t.dtype.is_floating_point:
                t = (t.clamp(0, 1) * 255.0).round()
            return t.permute(1, 2, 0).numpy().astype(np.uint8)
    arr = np.asarray(img)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    raise DataError(
        "an image must be a PIL image, a uint8 array (H, W, 3) or a tensor (3, H, W) in "
        f"[0, 1]. Got {type(img).__name__} {tuple(getattr(img, 'shape', ()))} instead."
    )


class _Items:
    """A dataset -> (uint8 image, label, error) for a DataLoader's workers (a bad item comes
    back as its one-line error, raised in the main process)."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[Any, int, str]:
        item = self.ds[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            return None, 0, f"must give (image, label) pairs. Got {type(item).__name__} at [{i}]."
        try:
            return as_image(item[0]), int(item[1]), ""
        except DataError as exc:
            return None, 0, f"[{i}]: {exc}"
        except (TypeError, ValueError) as exc:  # a label that is not an integer
            return None, 0, f"[{i}]: the label must be an integer ({exc})."


def _as_list(items: list) -> list:
    return items


def _batches(ds: Any, num_workers: int, batch: int = 64) -> Iterator[tuple[np.ndarray, list]]:
    """``(images, labels)`` of ``ds`` in order, ``batch`` at a time."""
    from torch.utils.data import DataLoader

    loader = DataLoader(_Items(ds), batch_size=batch, num_workers=num_workers, collate_fn=_as_list)
    shape = None
    for items in loader:
        for image, _, error in items:
            if error:
                raise DataError(error)
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise DataError(
                    f"must hold images of one size (resize them first). Got {shape[:2]} and "
                    f"{image.shape[:2]}."
                )
        yield np.stack([image for image, _, _ in items]), [label for _, label, _ in items]


def _length(ds: Any) -> int:
    try:
        n = len(ds)
    except TypeError:
        raise DataError("must be a dataset with len() and indexing.") from None
    if n == 0:
        raise DataError("must hold images. Got none.")
    return n


def write_split(
    ds: Any,
    path: Path,
    *,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
    what: str = "",
) -> tuple[np.ndarray, str]:
    """A dataset's images written to the ``.npy`` file ``path`` (uint8 (N, H, W, 3)),
    batch by batch; returns its labels (int64) and the digest of images and labels.

    Args:
        ds: The dataset of ``(image, label)`` pairs.
        path: The images' file (written whole or not at all).
        num_workers: DataLoader processes reading ``ds`` (default 0: this one).
        log: Callable for progress lines (default None: silent).
        what: What the dataset is, for the progress lines (default: nothing).

    Raises:
        DataError: Not a dataset, an empty one, a bad item or images of different sizes.
    """
    n = _length(ds)
    labels = np.empty(n, dtype=np.int64)
    digest = hashlib.sha256(f"torch-datasets-v{CACHE_VERSION}".encode())
    t0, done, step = time.perf_counter(), 0, max(1000, n // 10)
    with contextlib.ExitStack() as stack:
        out = None
        for images, batch_labels in _batches(ds, num_workers):
            if out is None:
                out = stack.enter_context(atomic_memmap(path, (n, *images.shape[1:])))
            if done + len(images) > n:
                raise DataError(f"gave more than its len() of {n} items.")
            out[done : done + len(images)] = images
            labels[done : done + len(images)] = batch_labels
            digest.update(str(images.shape).encode())
            digest.update(np.ascontiguousarray(images).data)
            done += len(images)
            if log is not None and (done // step > (done - len(images)) // step or done == n):
                log(f"read {done:,}/{n:,} images of {what} ({time.perf_counter() - t0:.1f} s)")
        if done != n:
            raise DataError(f"gave {done} items, not its len() of {n}.")
    digest.update(labels.tobytes())
    return labels, digest.hexdigest()


def read_dataset(
    ds: Any,
    *,
    cache_dir: Path | None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
    what: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's images (uint8 (N, H, W, 3)) and labels. With ``cache_dir`` the images are
    kept in ``<cache_dir>/images/torch-<digest>.npy``, named by their content (images and
    labels), and returned memory-mapped; without it they are read into memory.

    Args:
        ds: The dataset of ``(image, label)`` pairs.
        cache_dir: The study's cache folder (default None: in memory).
        num_workers: DataLoader processes reading ``ds`` (default 0: this one).
        log: Callable for progress lines (default None: silent).
        what: What the dataset is, for messages (default: nothing).

    Raises:
        DataError: As :func:`write_split`.
    """
    if cache_dir is None:
        _length(ds)
        chunks, labels = [], []
        for images, batch_labels in _batches(ds, num_workers):
            chunks.append(images)
            labels += batch_labels
        return np.concatenate(chunks), np.asarray(labels, dtype=np.int64)
    folder = Path(cache_dir) / "images"
    pending = folder / f".torch-{os.getpid()}-{id(ds)}.npy"
    try:
        labels, digest = write_split(ds, pending, num_workers=num_workers, log=log, what=what)
        path = folder / f"torch-{digest[:16]}.npy"
        os.replace(pending, path)  # the same content: the same file
    finally:
        pending.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r", allow_pickle=False), labels


def _splits(target: str, made: Any) -> dict[str, Any]:
    """What a factory returned, as ``{split: dataset}``."""
    if isinstance(made, dict):
        unknown = sorted(set(made) - set(SPLITS))
        if unknown:
            raise DataError(
                f"{target} returned a mapping with key {unknown[0]!r}; the keys are train, "
                "val (optional) and test"
            )
        splits = {k: made.get(k) for k in SPLITS}
    elif all(hasattr(made, k) for k in ("train", "test")):  # ImageClassificationData
        splits = {k: getattr(made, k, None) for k in SPLITS}
    elif isinstance(made, (tuple, list)) and len(made) in (2, 3):
        splits = dict(zip(("train", "test") if len(made) == 2 else SPLITS, made, strict=True))
    else:
        raise DataError(
            f"{target} must return (train, val, test) datasets (val may be None), (train, "
            f"test), or a mapping of them. Got {type(made).__name__} instead."
        )
    for key in ("train", "test"):
        if splits.get(key) is None:
            raise DataError(f"{target} returned no {key} dataset")
    return splits


def load_factory(
    *,
    seed: int,
    factory: str,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> ImageDataset:
    """The datasets the user's ``factory`` returns, read into the study's cache.

    The factory is called with no arguments, in every process that measures the study, and
    returns ``(train, val, test)`` (val may be None: held out from train, stratified and
    seeded), ``(train, test)``, or a mapping with those keys; each a torch dataset of
    ``(image, label)`` pairs with images of one size. Each split is read once per process;
    its file in the cache is named by its content, so every cache made from it (corrupted
    images, baselines) follows a change of the data.

    Args:
        seed: Unused (the splits are the user's); taken as every loader's.
        factory: ``"package.module:callable"``.
        cache_dir: Where the read splits are kept memory-mapped (default None: in memory).
        num_workers: DataLoader processes reading each dataset (default 0: this one).
        log: Callable for progress lines (default None: silent).

    Raises:
        DataError: The factory cannot be imported or returns something else, or a dataset
            is not one of images of one size with integer labels.
    """
    splits = _splits(factory, _factory(factory)())
    arrays: dict[str, Any] = {}
    shapes = set()
    for split, ds in splits.items():
        if ds is None:
            continue
        try:
            x, y = read_dataset(
                ds, cache_dir=cache_dir, num_workers=num_workers, log=log, what=split
            )
        except DataError as exc:
            raise DataError(f"{factory}: the {split} dataset {exc}") from None
        if y.min() < 0:
            raise DataError(f"{factory}: the {split} dataset has a negative label ({y.min()})")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
        shapes.add(x.shape[1:])
    if len(shapes) > 1:
        raise DataError(f"{factory}: the datasets hold images of different sizes {sorted(shapes)}")
    return ImageDataset(
        name=f"factory:{factory}",
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        num_classes=int(max(int(arrays[k].max()) for k in arrays if k.startswith("y_")) + 1),
        x_val=arrays.get("x_val"),
        y_val=arrays.get("y_val"),
    )


def _factory(target: str) -> Callable[[], Any]:
    try:
        made = import_target(target)
    except (ImportError, AttributeError) as exc:
        raise DataError(f"cannot import {target!r} ({exc})") from None
    if not callable(made):
        raise DataError(f"{target} is a {type(made).__name__}, not a callable")
    return made


def check_options(name: str, options: dict) -> tuple[str, str] | None:
    """The factory must be ``package.module:callable``, importable and callable.

    Args:
        name: The dataset's name.
        options: Its options as read.

    Returns:
        None, or ``(key, problem)``.
    """
    target = options["factory"]
    if target.count(":") != 1 or not all(target.split(":")):
        return "factory", "must be 'package.module:callable', a function returning the datasets"
    try:
        _factory(target)
    except DataError as exc:
        return "factory", f"must be an importable callable returning the datasets; {exc}"
    return None
