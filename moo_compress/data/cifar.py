"""CIFAR-10 / CIFAR-100 (official python pickle format) and CIFAR-10-C / CIFAR-100-C folders.

Nothing is downloaded: ``root`` must already hold ``cifar-10-batches-py/`` (``data_batch_1``
to ``_5``, ``test_batch``, ``batches.meta``) or ``cifar-100-python/`` (``train``, ``test``,
``meta``), as extracted from the official archives. The official MD5 sums are not enforced,
so subsets written in the same format also load; shapes, dtypes and labels are checked
instead.

The batches are pickles, and unpickling a file can run any code its author chose. They are
read with a restricted unpickler that admits only the globals the official files use (a
dict of lists, strings and one uint8 array: ``numpy.ndarray``, ``numpy.dtype`` and numpy's
``_reconstruct``); any other global is refused before it is looked up, so a planted file
cannot run code. Batches written by Python 3 load with pickle protocol 3 or 4 (protocol 2
from Python 3 needs ``_codecs.encode`` and protocol 5 ``_frombuffer``, both refused). The
meta files (class names) are not read.

A "-C" folder holds one ``<corruption>.npy`` per corruption, uint8 (5 * N, 32, 32, 3),
severity 1 first, and ``labels.npy`` (5 * N,) (Hendrycks & Dietterich's layout); it is
memory-mapped, never copied.
"""

from __future__ import annotations

import pickle
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

__all__ = [
    "check_corrupted_folder",
    "read_corrupted_folder",
    "FOLDERS",
    "NUM_CLASSES",
    "check_cifar_root",
    "expected_files",
    "load_cifar",
    "load_cifar10",
    "load_cifar100",
    "load_corrupted_folder",
]


def expected_files(name: str, root: Path) -> list[Path]:
    """The files an extracted official archive holds (training and test batches, meta).

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: The folder the archive was extracted into.
    """
    folder, train, test, meta = FOLDERS[name]
    return [Path(root) / folder / f for f in [*train, *test, meta]]


def check_cifar_root(name: str, root: Path) -> str | None:
    """None if ``root`` looks like an extracted official archive, else what is missing.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: The folder the archive was extracted into.
    """
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


def check_options(name: str, options: dict) -> tuple[str, str] | None:
    """The study file's check of a CIFAR dataset (``DATASET_INFO``): its ``root`` holds the
    extracted official archive.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        options: The dataset's options (``root`` resolved).

    Returns:
        None, or ``("root", what is missing)``.
    """
    problem = check_cifar_root(name, Path(options["root"]))
    return ("root", problem) if problem else None


# (module, name) of every global an official batch references (numpy 1.x wrote
# numpy.core.multiarray, numpy 2 writes numpy._core.multiarray)
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_RECONSTRUCT = np.empty(0, np.uint8).__reduce__()[0]  # numpy's _reconstruct, either version


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_PICKLE_GLOBALS`, and never imports anything."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            text = f"{module}.{name}"
            raise _RefusedGlobal(text if len(text) <= 80 else text[:77] + "...")
        if name == "_reconstruct":
            return _RECONSTRUCT
        return np.ndarray if name == "ndarray" else np.dtype


def _read_batch(path: Path, split: str) -> tuple[np.ndarray, list]:
    """``data`` (N, 3072) and the labels of one batch file, through :class:`_BatchUnpickler`."""
    try:
        with open(path, "rb") as fh:
            # the official files are Python 2 pickles: latin1 turns their str keys into str
            # and gives numpy the array's raw bytes unchanged
            entry = _BatchUnpickler(fh, encoding="latin1").load()
    except _RefusedGlobal as exc:
        raise DataError(
            f"{path}: refused to unpickle the {split} split: the file asks for {exc}, which "
            "an official CIFAR batch never does (it could run code); allowed: numpy.ndarray, "
            "numpy.dtype, numpy's _reconstruct"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear line
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataError(
            f"{path}: cannot read the {split} split in the official python pickle format "
            f"({type(exc).__name__}: {text})"
        ) from None
    if isinstance(entry, dict):
        entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    labels = None
    if isinstance(entry, dict):
        labels = entry.get("labels", entry.get("fine_labels"))
    data = entry.get("data") if isinstance(entry, dict) else None
    if not isinstance(data, np.ndarray) or not isinstance(labels, list):
        raise DataError(
            f"{path}: cannot read the {split} split in the official python pickle format "
            "(expected a dict with 'data', a uint8 array (N, 3072), and 'labels' or "
            "'fine_labels', a list of N ints)"
        )
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: expected uint8 images (N, 32, 32, 3) with N labels, got 'data' "
            f"{data.dtype} {data.shape} (expected uint8 (N, 3072))"
        )
    return data, labels


def _read_split(name: str, root: Path, train: bool):
    problem = check_cifar_root(name, root)
    if problem:
        raise DataError(problem)
    folder, train_files, test_files, _ = FOLDERS[name]
    split = "training" if train else "test"
    images, targets = [], []
    for file in train_files if train else test_files:
        data, labels = _read_batch(Path(root) / folder / file, split)
        images.append(data)
        targets.extend(labels)
    # rows are 1024 red, 1024 green, 1024 blue values, each 32 x 32 row-major
    x = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    try:
        y = np.asarray(targets, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        y = np.asarray([], dtype=np.int64).reshape(0, 0)  # reported just below
    k = NUM_CLASSES[name]
    if y.ndim != 1 or len(y) != len(x):
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

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: The folder holding the extracted official archive.
        seed: Unused: the official split is fixed (taken for the common loader signature).
        train_subset: Keep the first this many training images (default None: all).
        test_subset: Keep the first this many test images (default None: all).

    Raises:
        DataError: Files are missing, refused or not in the official format.
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
    """CIFAR-10: :func:`load_cifar` with ``name="cifar10"``.

    Args:
        **kwargs: ``root``, ``seed`` and optionally ``train_subset``, ``test_subset``.
    """
    return load_cifar("cifar10", **kwargs)


def load_cifar100(**kwargs) -> ImageDataset:
    """CIFAR-100 (fine labels): :func:`load_cifar` with ``name="cifar100"``.

    Args:
        **kwargs: ``root``, ``seed`` and optionally ``train_subset``, ``test_subset``.
    """
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
        n_severities: Severity blocks in each file (default 5).

    Returns:
        Name -> uint8 array (5 * len(y_test), 32, 32, 3), severity 1 first.

    Raises:
        DataError: The folder, its labels or a file is missing or does not match.
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


def read_corrupted_folder(
    folder: Path, names, *, y_test: np.ndarray, options: dict | None = None, **_: object
) -> dict[str, np.ndarray]:
    """:func:`load_corrupted_folder`, called as every dataset's corrupted-folder reader
    (``DatasetInfo.corrupted_folder``; the other arguments do not apply to ``.npy`` files).

    Args:
        folder: The -C folder.
        names: Corruptions to read.
        y_test: Labels of the clean test images used.
        options: The dataset's options (unused).
        _: ``cache_dir``, ``num_workers``, ``log`` (unused).
    """
    return load_corrupted_folder(folder, names, y_test=y_test)


def check_corrupted_folder(folder: Path) -> str | None:
    """None, or why ``folder`` is not a CIFAR-10-C folder.

    Args:
        folder: The folder given as ``corrupted_root``.
    """
    if not folder.is_dir() or not (folder / "labels.npy").is_file():
        return (
            "must be a CIFAR-C style folder (<corruption>.npy files and labels.npy); "
            f"{folder} has no labels.npy"
        )
    return None
