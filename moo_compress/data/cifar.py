"""CIFAR-10 / CIFAR-100 (official python pickle format) and CIFAR-10-C / CIFAR-100-C folders.

Nothing is downloaded: ``root`` must already hold ``cifar-10-batches-py/`` (``data_batch_1``
to ``_5``, ``test_batch``, ``batches.meta``) or ``cifar-100-python/`` (``train``, ``test``,
``meta``), as extracted from the official archives. They are read by torchvision with
``download=False``. The official MD5 sums are not enforced, so subsets written in the same
format also load; shapes, dtypes and labels are checked instead.

A "-C" folder holds one ``<corruption>.npy`` per corruption, uint8 (5 * N, 32, 32, 3),
severity 1 first, and ``labels.npy`` (5 * N,) (Hendrycks & Dietterich's layout); it is
memory-mapped, never copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moo_compress.data.base import ImageDataset
from moo_compress.errors import DataError

FOLDERS = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "batches.meta",
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta"),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def expected_files(name: str, root: Path) -> list[Path]:
    folder, train, test, meta = FOLDERS[name]
    return [Path(root) / folder / f for f in [*train, *test, meta]]


def check_cifar_root(name: str, root: Path) -> str | None:
    """None if ``root`` looks like an extracted official archive, else what is missing."""
    root = Path(root)
    folder = FOLDERS[name][0]
    expected = (
        f"expected the extracted official {name} archive ({folder}/ with "
        f"{', '.join(p.name for p in expected_files(name, root))}) in {root}"
    )
    if not root.is_dir():
        return f"{expected}; {root} is not a directory"
    missing = [p for p in expected_files(name, root) if not p.is_file()]
    if missing:
        return f"{expected}; missing {missing[0]}"
    return None


def _torchvision_class(name: str):
    from torchvision import datasets

    base = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100

    # torchvision checks the official MD5 sums; a None sum checks only that the file exists.
    class _Local(base):
        train_list = [[f, None] for f, _ in base.train_list]
        test_list = [[f, None] for f, _ in base.test_list]
        meta = {**base.meta, "md5": None}

    _Local.__name__ = base.__name__
    return _Local


def _read_split(name: str, root: Path, train: bool):
    problem = check_cifar_root(name, root)
    if problem:
        raise DataError(problem)
    try:
        ds = _torchvision_class(name)(str(root), train=train, download=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear line
        split = "training" if train else "test"
        raise DataError(
            f"{Path(root) / FOLDERS[name][0]}: cannot read the {split} split in the official "
            f"python pickle format ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    x = np.asarray(ds.data)
    y = np.asarray(ds.targets, dtype=np.int64)
    k = NUM_CLASSES[name]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(y) != len(x):
        raise DataError(
            f"{Path(root) / FOLDERS[name][0]}: expected uint8 images (N, 32, 32, 3) with N labels, "
            f"got {x.dtype} {x.shape} and {len(y)} labels"
        )
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise DataError(
            f"{Path(root) / FOLDERS[name][0]}: labels must be in [0, {k - 1}], got [{y.min()}, {y.max()}]"
        )
    return x, y


def _subset(n: int, size: int | None) -> np.ndarray:
    return np.arange(n) if size is None or size >= n else np.arange(size)


def load_cifar(
    name: str,
    *,
    root: str,
    seed: int,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> ImageDataset:
    """The official train/test split; optional subsets take the first images of each split.

    The first ``test_subset`` test images are also the ones a CIFAR-C folder is read for, so
    clean and corrupted results refer to the same images.
    """
    del seed  # the official split is fixed
    x_train, y_train = _read_split(name, Path(root), True)
    x_test, y_test = _read_split(name, Path(root), False)
    tr, te = _subset(len(y_train), train_subset), _subset(len(y_test), test_subset)
    return ImageDataset(
        name=name,
        x_train=x_train[tr],
        y_train=y_train[tr],
        x_test=x_test[te],
        y_test=y_test[te],
        num_classes=NUM_CLASSES[name],
    )


def load_cifar10(**kwargs) -> ImageDataset:
    return load_cifar("cifar10", **kwargs)


def load_cifar100(**kwargs) -> ImageDataset:
    return load_cifar("cifar100", **kwargs)


def load_corrupted_folder(
    folder: Path, names, *, y_test: np.ndarray, n_severities: int = 5
) -> dict[str, np.ndarray]:
    """Memory-map ``<name>.npy`` of a CIFAR-C folder, keeping the first ``len(y_test)`` images
    of each severity block.

    Args:
        folder: The -C folder.
        names: Corruptions to read.
        y_test: Labels of the clean test images used; the folder's labels must match them.

    Returns:
        Name -> uint8 array (5 * len(y_test), 32, 32, 3), severity 1 first.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: expected a CIFAR-C folder (<corruption>.npy, labels.npy), not found"
        )
    n = len(y_test)
    labels_path = folder / "labels.npy"
    if not labels_path.is_file():
        raise DataError(
            f"{labels_path}: expected the labels (5 * N,) of a CIFAR-C folder, file not found"
        )
    labels = np.load(labels_path, allow_pickle=False)
    if labels.ndim != 1 or len(labels) % n_severities or len(labels) // n_severities < n:
        raise DataError(
            f"{labels_path}: expected {n_severities} blocks of at least {n} labels, got shape {labels.shape}"
        )
    n_clean = len(labels) // n_severities
    blocks = labels.reshape(n_severities, n_clean)[:, :n].astype(np.int64)
    if not (blocks == y_test[None, :]).all():
        raise DataError(
            f"{labels_path}: labels do not match the clean test split (expected the {n_clean} "
            f"test labels repeated for {n_severities} severities)"
        )
    out = {}
    for name in names:
        arr = _load_npy(folder / f"{name}.npy", (n_severities * n_clean, 32, 32, 3))
        if n == n_clean:
            out[name] = arr
        else:  # keep each severity's first n images; still no copy of the whole file
            out[name] = np.concatenate(
                [arr[s * n_clean : s * n_clean + n] for s in range(n_severities)]
            )
    return out


def _load_npy(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: expected uint8 array {shape} in .npy format, file not found")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: not a readable .npy file ({type(exc).__name__})") from None
    if arr.dtype != np.uint8 or arr.shape != shape:
        raise DataError(f"{path}: expected uint8 array {shape}, got {arr.dtype} {arr.shape}")
    return arr
