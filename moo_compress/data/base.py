"""In-memory image datasets in the CIFAR layout: uint8 images (N, H, W, 3) and int labels."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from moo_compress._utils.io import take_rows

if TYPE_CHECKING:
    import torch

__all__ = [
    "ImageDataset",
    "SPLITS",
    "greyscale",
    "greyscale_dataset",
    "select_split",
    "stratified_rows",
    "to_tensor",
    "to_uint8",
    "validation_indices",
]


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of uint8 RGB images.

    Args:
        name: Dataset name.
        x_train: uint8 array (N, H, W, 3).
        y_train: int64 labels (N,).
        x_test: uint8 array (M, H, W, 3).
        y_test: int64 labels (M,).
        num_classes: Number of classes.
        x_val: The user's own validation images (default None: the validation split is
            held out from the training rows).
        y_val: Their labels (default None).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 tensor (N, C, H, W) in [0, 1].

    Args:
        images: uint8 images (N, H, W, C); copied first when read-only or not contiguous.
    """
    import torch

    arr = images if images.flags.writeable and images.flags.c_contiguous else np.array(images)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """float tensor (N, C, H, W) in [0, 1] -> uint8 array (N, H, W, C), rounded.

    Args:
        batch: Float images (N, C, H, W), on any device; clamped to [0, 1].
    """
    return (
        batch.clamp(0, 1)
        .mul(255.0)
        .round()
        .to("cpu")
        .byte()
        .permute(0, 2, 3, 1)
        .contiguous()
        .numpy()
    )


#: ITU-R BT.601 luma weights of R, G and B.
REC601 = (0.299, 0.587, 0.114)


def greyscale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, H, W, 3): Rec. 601 luma, rounded, in all channels.

    Args:
        images: uint8 RGB images (N, H, W, 3).
    """
    luma = images.astype(np.float32) @ np.asarray(REC601, dtype=np.float32)
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def greyscale_dataset(ds: ImageDataset) -> ImageDataset:
    """The dataset with both splits in :func:`greyscale` and ``(greyscale)`` in its name.

    Args:
        ds: The dataset.
    """
    return replace(
        ds,
        name=f"{ds.name} (greyscale)",
        x_train=greyscale(ds.x_train),
        x_test=greyscale(ds.x_test),
    )


#: The splits an evaluator can measure on.
SPLITS = ("validation", "test")


def validation_indices(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) row indices of a training set, sorted.

    Args:
        labels: Class label of each training row (stratification falls back to a plain
            random split when a class has a single row).
        fraction: Share of rows held out for validation.
        seed: The study seed: the same seed gives the same split.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if labels.ndim == 1 and counts.min() >= 2 else None
    tr, va = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(tr), np.sort(va)


def stratified_rows(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` row indices drawn stratified by label (plainly random when a class is too
    small to stratify), sorted; the same seed gives the same rows.

    Args:
        labels: Class label of each row.
        n: Rows to draw (fewer than ``len(labels)``).
        seed: The draw's seed.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    stratify = (
        labels if counts.min() >= 2 and len(classes) <= n <= len(labels) - len(classes) else None
    )
    _, rows = train_test_split(idx, test_size=n, random_state=seed, stratify=stratify)
    return np.sort(rows)


def select_split(ds: ImageDataset, split: str, fraction: float, seed: int) -> ImageDataset:
    """The dataset an evaluator sees: training rows minus the validation rows, and as its
    evaluation images (``x_test``) either the validation rows or the untouched test split.

    Both splits train on the same rows, so the baseline and every compressed model are the
    same whichever split measures them.

    Args:
        ds: The dataset.
        split: ``"validation"`` or ``"test"`` (see :data:`SPLITS`).
        fraction: Share of the training rows held out for validation.
        seed: The study seed (fixes the validation rows).

    Raises:
        ValueError: An unknown ``split``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Got {split!r} instead.")
    if ds.x_val is not None:  # the user's own validation split: every training row trains
        x_eval, y_eval = (ds.x_val, ds.y_val) if split == "validation" else (ds.x_test, ds.y_test)
        return replace(ds, x_test=x_eval, y_test=y_eval, x_val=None, y_val=None)
    tr, va = validation_indices(ds.y_train, fraction, seed)
    # rows of a memory-mapped set are copied to a file beside it, not into memory
    x_eval, y_eval = (
        (take_rows(ds.x_train, va), ds.y_train[va])
        if split == "validation"
        else (ds.x_test, ds.y_test)
    )
    return replace(
        ds, x_train=take_rows(ds.x_train, tr), y_train=ds.y_train[tr], x_test=x_eval, y_test=y_eval
    )
