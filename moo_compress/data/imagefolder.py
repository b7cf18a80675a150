"""A user's images in torchvision's ImageFolder layout, at any image size.

``root/<split>/<class>/<image>`` with one folder per class (the same classes in every split,
in sorted order, as ``torchvision.datasets.ImageFolder`` numbers them). Every image is
decoded with Pillow as RGB, its shorter side resized to ``image_size`` and the centre cut to
``image_size`` x ``image_size`` (the usual evaluation transform), and kept as uint8. Images
are read in a deterministic order, so the same folder gives the same arrays.

In a study, each split is decoded once (by ``dataset.num_workers`` processes) into a uint8
``.npy`` file of the study's cache and read memory-mapped, so a set larger than memory is
never held in it (10,000 images of 224x224 take 1.5 GB); the file's key is the image files'
paths, sizes and modification times, and the image size. Normalisation (mean and std) is not applied here: corruptions and attacks work on the pixels,
and the model applies its own normalisation (``model.mean``/``model.std``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from moo_compress._utils.io import atomic_memmap
from moo_compress.data.base import ImageDataset
from moo_compress.errors import DataError

__all__ = [
    "CACHE_VERSION",
    "IMAGE_SUFFIXES",
    "SEVERITIES",
    "check_corrupted_folder",
    "check_options",
    "decode_files",
    "list_split",
    "load_corrupted_folder",
    "load_imagefolder",
    "read_split",
]

#: Version of the decoding (resize and crop); part of a decoded split's cache key.
CACHE_VERSION = 1

#: File suffixes read as images (as torchvision's ImageFolder).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _classes(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder with one sub-folder of images per class")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{folder}: expected one sub-folder of images per class, found none")
    return classes


def _load(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            new = (max(size, round(w * scale)), max(size, round(h * scale)))
            img = img.resize(new, Image.Resampling.BILINEAR)
            left, top = (new[0] - size) // 2, (new[1] - size) // 2
            img = img.crop((left, top, left + size, top + size))
            return np.asarray(img, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None


def list_split(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """The image files of one split, in reading order, and their class index.

    Args:
        folder: The split's folder (one sub-folder per class).
        classes: The class names, in label order.

    Raises:
        DataError: A class folder the training split lacks, or no images.
    """
    extra = sorted(set(_classes(folder)) - set(classes))
    if extra:
        raise DataError(f"{folder}: class folder {extra[0]!r} is not in the training split")
    files, labels = [], []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            continue
        for path in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            files.append(path)
            labels.append(label)
    if not files:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return files, np.asarray(labels, dtype=np.int64)


class _Decoded:
    """Files -> (uint8 image, error); a torch ``Dataset`` for a DataLoader's workers (an
    unreadable file comes back as its one-line error, raised in the main process)."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        try:
            return _load(self.files[i], self.size), ""
        except DataError as exc:
            return np.zeros((self.size, self.size, 3), np.uint8), str(exc)


def _as_list(items: list) -> list:
    return items


def _batches(files: list[Path], size: int, num_workers: int, batch: int = 64):
    """Decoded images in file order, ``batch`` at a time, by ``num_workers`` processes."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        _Decoded(files, size),
        batch_size=batch,
        num_workers=num_workers,
        collate_fn=_as_list,
    )
    for items in loader:
        for _, error in items:
            if error:
                raise DataError(error)
        yield np.stack([img for img, _ in items])


def _split_key(files: list[Path], size: int) -> str:
    """The decoded split's cache key: the files (path, size, modification time) and the
    image size, so a changed, added or removed image makes a new cache."""
    h = hashlib.sha256(f"imagefolder-v{CACHE_VERSION}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def read_split(
    folder: Path,
    classes: list[str],
    image_size: int,
    *,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every image of one split, as uint8 (N, S, S, 3), and its class index.

    With ``cache_dir`` the images are decoded once into a ``.npy`` file there and returned
    memory-mapped: a split larger than memory is never held in it, and the next run reads
    the file instead of decoding again.

    Args:
        folder: The split's folder (one sub-folder per class).
        classes: The class names, in label order.
        image_size: S, the side of the square images.
        cache_dir: Where decoded splits are kept (default None: decode into memory).
        num_workers: Processes decoding images (default 0: this one).
        log: Callable for progress lines while decoding (default None: silent).

    Raises:
        DataError: A class folder the other splits lack, an unreadable image, or no images.
    """
    files, labels = list_split(folder, classes)
    return decode_files(
        files, image_size, cache_dir=cache_dir, num_workers=num_workers, log=log, what=str(folder)
    ), labels


def decode_files(
    files: list[Path],
    image_size: int,
    *,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
    what: str = "",
) -> np.ndarray:
    """Image files decoded, resized and centre-cut to uint8 (N, S, S, 3), in their order;
    with ``cache_dir``, once, into a memory-mapped ``.npy`` file there (see
    :func:`read_split`).

    Args:
        files: The image files.
        image_size: S.
        cache_dir: Where decoded files are kept (default None: decode into memory).
        num_workers: Processes decoding images (default 0: this one).
        log: Callable for progress lines (default None: silent).
        what: What the files are, for the progress lines (default: nothing).

    Raises:
        DataError: An unreadable image.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "images" / f"{_split_key(files, image_size)}.npy"
        if path.exists():
            return np.load(path, mmap_mode="r", allow_pickle=False)
    t0, done, step = time.perf_counter(), 0, max(1000, len(files) // 10)

    def progress(n: int) -> None:
        nonlocal done
        if log is not None and (n // step > done // step or n == len(files)):
            log(
                f"decoded {n:,}/{len(files):,} images of {what} at {image_size}x{image_size} "
                f"({time.perf_counter() - t0:.1f} s)"
            )
        done = n

    if path is None:
        chunks = []
        for chunk in _batches(files, image_size, num_workers):
            chunks.append(chunk)
            progress(done + len(chunk))
        return np.concatenate(chunks)
    with atomic_memmap(path, (len(files), image_size, image_size, 3)) as out:
        for chunk in _batches(files, image_size, num_workers):
            out[done : done + len(chunk)] = chunk
            progress(done + len(chunk))
    return np.load(path, mmap_mode="r", allow_pickle=False)


def load_imagefolder(
    *,
    seed: int,
    root: str,
    image_size: int,
    train: str = "train",
    test: str = "test",
    val: str | None = None,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> ImageDataset:
    """The train and test splits of an ImageFolder tree.

    Args:
        seed: Unused (the splits are the user's folders); taken as every loader's.
        root: The folder holding the split folders.
        image_size: The side the images are resized and centre-cropped to.
        train: The training split's folder name (default ``train``).
        test: The test split's folder name (default ``test``).
        val: The validation split's folder name, what the search measures on (default
            None: held out from the training split, stratified and seeded).
        cache_dir: Where the decoded splits are kept memory-mapped (default None: in
            memory; see :func:`read_split`).
        num_workers: Processes decoding images (default 0: this one).
        log: Callable for progress lines while decoding (default None: silent).
    """
    base = Path(root)
    classes = _classes(base / train)

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        return read_split(
            base / name, classes, image_size, cache_dir=cache_dir, num_workers=num_workers, log=log
        )

    x_train, y_train = read(train)
    x_test, y_test = read(test)
    x_val, y_val = read(val) if val else (None, None)
    return ImageDataset(
        name=f"imagefolder:{base.name}",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(classes),
        x_val=x_val,
        y_val=y_val,
    )


def check_options(name: str, options: dict) -> tuple[str, str] | None:
    """The split folders must exist under ``root``.

    Args:
        name: The dataset's name.
        options: Its options as read.

    Returns:
        None, or ``(key, problem)``.
    """
    root = Path(options["root"])
    for key in ("train", "test", "val"):
        if key == "val" and not options.get("val"):
            continue
        folder = root / options.get(key, key)
        if not folder.is_dir():
            return key, (
                f"must name a split folder under {root} with one sub-folder of images per "
                f"class; {folder} does not exist"
            )
    return None


#: Severities of a published corrupted set (one folder each).
SEVERITIES = (1, 2, 3, 4, 5)


def load_corrupted_folder(
    folder: Path,
    names,
    *,
    y_test: np.ndarray,
    options: dict,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """The corrupted test images of a published set in the ImageNet-C layout,
    ``<corruption>/<severity>/<class>/<image>`` (ImageNet-C, Tiny-ImageNet-C; the image
    file's suffix may differ from the clean one's, e.g. ``.JPEG`` for ``.png``).

    Every clean test image must have its corrupted version at the same ``<class>/<name>`` in
    each severity folder; the images are decoded as the clean ones are (resized, centre cut)
    and kept as the clean splits are (see :func:`read_split`).

    Args:
        folder: The folder (``corrupted_root``).
        names: Corruptions to read.
        y_test: Labels of the clean test images, in reading order.
        options: The ``imagefolder`` options (``root``, ``image_size``, ``train``, ``test``).
        cache_dir: Where decoded images are kept (default None: in memory).
        num_workers: Processes decoding images (default 0: this one).
        log: Callable for progress lines (default None: silent).

    Returns:
        Name -> uint8 array (5 * N, S, S, 3), severity 1 first.

    Raises:
        DataError: A corruption or severity folder is missing, or it lacks a test image.
    """
    folder = Path(folder)
    root = Path(options["root"])
    test_dir = root / options.get("test", "test")
    classes = _classes(root / options.get("train", "train"))
    files, labels = list_split(test_dir, classes)
    if not np.array_equal(labels, np.asarray(y_test)):
        raise DataError(f"{test_dir}: its images do not match the test split measured")
    wanted = [f.relative_to(test_dir).with_suffix("") for f in files]
    out = {}
    for name in names:
        ordered: list[Path] = []
        for severity in SEVERITIES:
            sub = folder / name / str(severity)
            if not sub.is_dir():
                raise DataError(
                    f"{sub}: expected the ImageNet-C layout <corruption>/<severity>/<class>/"
                    "<image>; folder not found"
                )
            found = {
                p.relative_to(sub).with_suffix(""): p
                for p in sub.glob("*/*")
                if p.suffix.lower() in IMAGE_SUFFIXES
            }
            missing = [w for w in wanted if w not in found]
            if missing:
                raise DataError(
                    f"{sub}: has no corrupted version of test image {missing[0]} "
                    f"({len(missing)} of {len(wanted)} missing)"
                )
            ordered += [found[w] for w in wanted]
        out[name] = decode_files(
            ordered,
            int(options["image_size"]),
            cache_dir=cache_dir,
            num_workers=num_workers,
            log=log,
            what=f"{folder / name}",
        )
    return out


def check_corrupted_folder(folder: Path) -> str | None:
    """None, or why ``folder`` is not a corrupted set in the ImageNet-C layout.

    Args:
        folder: The folder given as ``corrupted_root``.
    """
    if not folder.is_dir() or not any(p.is_dir() for p in folder.glob("*/1")):
        return (
            "must be a folder in the ImageNet-C layout (<corruption>/<severity>/<class>/"
            f"<image>); {folder} has no <corruption>/1 folder"
        )
    return None
