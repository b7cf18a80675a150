"""A user's images in torchvision's ImageFolder layout, at any image size.

``root/<split>/<class>/<image>`` with one folder per class (the same classes in every split,
in sorted order, as ``torchvision.datasets.ImageFolder`` numbers them). Every image is
decoded with Pillow as RGB, its shorter side resized to ``image_size`` and the centre cut to
``image_size`` x ``image_size`` (the usual evaluation transform), and kept as uint8. Images
are read in a deterministic order, so the same folder gives the same arrays.

The splits are held in memory as uint8 arrays: 10,000 images of 224x224 take 1.5 GB.
Normalisation (mean and std) is not applied here: corruptions and attacks work on the pixels,
and the model applies its own normalisation (``model.mean``/``model.std``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moo_compress.data.base import ImageDataset
from moo_compress.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "check_options", "load_imagefolder", "read_split"]

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


def read_split(folder: Path, classes: list[str], image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image of one split, as uint8 (N, S, S, 3), and its class index.

    Args:
        folder: The split's folder (one sub-folder per class).
        classes: The class names, in label order.
        image_size: S, the side of the square images.

    Raises:
        DataError: A class folder the other splits lack, an unreadable image, or no images.
    """
    extra = sorted(set(_classes(folder)) - set(classes))
    if extra:
        raise DataError(f"{folder}: class folder {extra[0]!r} is not in the training split")
    images, labels = [], []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            continue
        for path in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            images.append(_load(path, image_size))
            labels.append(label)
    if not images:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def load_imagefolder(
    *,
    seed: int,
    root: str,
    image_size: int,
    train: str = "train",
    test: str = "test",
    val: str | None = None,
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
    """
    base = Path(root)
    classes = _classes(base / train)
    x_train, y_train = read_split(base / train, classes, image_size)
    x_test, y_test = read_split(base / test, classes, image_size)
    x_val, y_val = read_split(base / val, classes, image_size) if val else (None, None)
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
