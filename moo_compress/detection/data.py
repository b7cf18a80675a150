"""Detection datasets in COCO format (an instances JSON plus an image folder).

Every dataset, the embedded one included, is read through pycocotools' ``COCO`` from files in
the official layout::

    <root>/annotations/instances_<split>.json
    <root>/images/<split>/<file_name>

Images are resized to the detector's square input (``image_size``); the ground truth used
for scoring stays in the original pixel coordinates, and detections are mapped back before
COCOeval sees them.

The embedded dataset ``shapes`` is generated deterministically from the study seed: coloured
circles, squares, triangles and handwritten digits (scikit-learn's bitmaps) on textured
backgrounds, one to four objects per image, written once in the layout above.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moo_compress.errors import DataError

SHAPES_CATEGORIES = ("circle", "square", "triangle", "digit")
SHAPES_VERSION = 1

__all__ = [
    "SHAPES_CATEGORIES",
    "DetectionDataset",
    "DetectionSplit",
    "generate_shapes",
    "load_coco",
    "load_coco_split",
    "load_detection_dataset",
    "quiet_coco",
    "shapes_folder",
    "write_coco",
]


@dataclass(frozen=True)
class DetectionSplit:
    """One split, resized for the detector.

    Args:
        images: uint8 (N, S, S, 3) at the detector's input size.
        coco: The split's COCO ground truth (pycocotools ``COCO``), original coordinates.
        image_ids: COCO image id of each row of ``images``.
        scales: (N, 2) original width / S and height / S, to map boxes back.
    """

    images: np.ndarray
    coco: Any
    image_ids: np.ndarray
    scales: np.ndarray

    def boxes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: ground-truth boxes (K, 4) as x1, y1, x2, y2 in input pixels, and their
        contiguous class indices (K,); crowd annotations are left out."""
        cat_index = {c: i for i, c in enumerate(sorted(self.coco.getCatIds()))}
        out = []
        for img_id, (sx, sy) in zip(self.image_ids.tolist(), self.scales, strict=True):
            anns = [
                a
                for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=[img_id]))
                if not a.get("iscrowd", 0)
            ]
            b = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
            xyxy = np.stack(
                [b[:, 0] / sx, b[:, 1] / sy, (b[:, 0] + b[:, 2]) / sx, (b[:, 1] + b[:, 3]) / sy],
                axis=1,
            )
            out.append((xyxy, np.array([cat_index[a["category_id"]] for a in anns], np.int64)))
        return out


@dataclass(frozen=True)
class DetectionDataset:
    """A detection dataset: a train and a test split with the same categories.

    Args:
        name: Dataset name (the folder's name for COCO folders).
        train: The training split.
        test: The test split.
        category_ids: COCO category id of each class index (sorted; may be sparse).
        category_names: Name of each class index.
    """

    name: str
    train: DetectionSplit
    test: DetectionSplit
    category_ids: tuple[int, ...]  # COCO category id of each class index
    category_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of categories."""
        return len(self.category_ids)


def quiet_coco(annotation: str | Path | dict):
    """A pycocotools ``COCO`` from a file or a dict, without its progress prints.

    Args:
        annotation: A COCO instances JSON file, or its content as a dict.
    """
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(annotation, dict):
            coco = COCO()
            coco.dataset = annotation
            coco.createIndex()
        else:
            coco = COCO(str(annotation))
    return coco


def load_coco_split(root: Path, split: str, image_size: int) -> DetectionSplit:
    """Read ``<root>/annotations/instances_<split>.json`` and its images.

    Args:
        root: The dataset folder (COCO layout).
        split: The split's name, e.g. ``"train2017"``.
        image_size: Side of the square detector input the images are resized to.

    Raises:
        DataError: A file is missing or not a COCO instances file.
    """
    from PIL import Image

    ann = root / "annotations" / f"instances_{split}.json"
    if not ann.is_file():
        raise DataError(f"{ann}: missing (COCO layout: annotations/instances_{split}.json)")
    try:
        coco = quiet_coco(ann)
        ids = sorted(coco.getImgIds())
    except Exception as exc:  # noqa: BLE001 - any malformed file is a data error
        raise DataError(f"{ann}: not a COCO instances file ({exc})") from None
    if not ids or not coco.getCatIds():
        raise DataError(f"{ann}: has no images or no categories")
    images = np.empty((len(ids), image_size, image_size, 3), dtype=np.uint8)
    scales = np.empty((len(ids), 2), dtype=np.float32)
    for i, img_id in enumerate(ids):
        info = coco.loadImgs([img_id])[0]
        path = root / "images" / split / info["file_name"]
        if not path.is_file():
            raise DataError(f"{path}: missing (listed in {ann} as image {img_id})")
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            w, h = rgb.size
            images[i] = np.asarray(rgb.resize((image_size, image_size), Image.BILINEAR))
        scales[i] = (w / image_size, h / image_size)
    return DetectionSplit(images, coco, np.asarray(ids, dtype=np.int64), scales)


def load_coco(root: str | Path, *, image_size: int, train: str, test: str) -> DetectionDataset:
    """A COCO-format dataset with a train and a test split (category ids may be sparse).

    Args:
        root: The dataset folder (COCO layout).
        image_size: Side of the square detector input.
        train: Name of the training split.
        test: Name of the test split.

    Raises:
        DataError: A split is missing or malformed, or the splits' categories differ.
    """
    root = Path(root)
    tr = load_coco_split(root, train, image_size)
    te = load_coco_split(root, test, image_size)
    cats = sorted(tr.coco.getCatIds())
    if sorted(te.coco.getCatIds()) != cats:
        raise DataError(f"{root}: the {train} and {test} splits have different categories")
    names = tuple(tr.coco.loadCats([c])[0]["name"] for c in cats)
    return DetectionDataset(root.name, tr, te, tuple(cats), names)


def write_coco(
    root: Path, split: str, images: list[np.ndarray], annotations: list[list[dict]], categories
) -> None:
    """Write images (PNG) and their instances JSON in the COCO layout.

    ``annotations[i]`` holds ``{"bbox": [x, y, w, h], "category_id": c}`` for image i.

    Args:
        root: The dataset folder (created if missing).
        split: The split's name.
        images: uint8 RGB images (H, W, 3), stored as ``000001.png``, ... (ids from 1).
        annotations: Each image's objects.
        categories: COCO categories, ``{"id": ..., "name": ...}``.
    """
    from PIL import Image

    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    coco_images, coco_anns = [], []
    for i, (img, anns) in enumerate(zip(images, annotations, strict=True)):
        name = f"{i + 1:06d}.png"
        Image.fromarray(img).save(root / "images" / split / name)
        coco_images.append(
            {"id": i + 1, "file_name": name, "width": img.shape[1], "height": img.shape[0]}
        )
        for a in anns:
            x, y, w, h = (float(v) for v in a["bbox"])
            coco_anns.append(
                {
                    "id": len(coco_anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(a["category_id"]),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    doc = {"images": coco_images, "annotations": coco_anns, "categories": list(categories)}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))


# -- the embedded dataset -------------------------------------------------------------------
def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random background: a few oriented sinusoids per channel plus fine noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((size, size, 3), np.float32)
    base = rng.uniform(0.25, 0.6, 3)
    for c in range(3):
        field = np.zeros((size, size), np.float32)
        for _ in range(3):
            fx, fy = rng.uniform(-6, 6, 2)
            field += rng.uniform(0.03, 0.1) * np.sin(
                2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 6.3)
            )
        out[..., c] = base[c] + field
    out += rng.normal(0, 0.03, out.shape).astype(np.float32)
    return out


def _shape_mask(kind: str, w: int, h: int, rng, digits) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "circle":
        return ((xx + 0.5 - w / 2) / (w / 2)) ** 2 + ((yy + 0.5 - h / 2) / (h / 2)) ** 2 <= 1.0
    if kind == "square":
        return np.ones((h, w), bool)
    if kind == "triangle":  # apex at the top centre, base at the bottom
        half = (yy + 1) / h * (w / 2)
        return np.abs(xx + 0.5 - w / 2) <= half
    import torch
    import torch.nn.functional as F

    bitmap = digits[rng.integers(len(digits))]
    up = F.interpolate(torch.from_numpy(bitmap)[None, None], size=(h, w), mode="bilinear")
    return up[0, 0].numpy() > 0.35


def generate_shapes(
    n: int, *, seed: int, size: int = 64
) -> tuple[list[np.ndarray], list[list[dict]]]:
    """``n`` images with their annotations (``bbox`` x, y, w, h of the object's pixels).

    Args:
        n: Number of images.
        seed: Seed of every random choice (the same seed gives the same images).
        size: Side of the square images (default 64).

    Returns:
        uint8 images (size, size, 3) and, per image, ``{"bbox", "category_id"}`` dicts
        (category ids 1.. in the order of :data:`SHAPES_CATEGORIES`).
    """
    from sklearn.datasets import load_digits

    digits = (load_digits().images / 16.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for _ in range(n):
        img = _texture(rng, size)
        anns: list[dict] = []
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(1, 5))):
            for _attempt in range(20):
                cat = int(rng.integers(len(SHAPES_CATEGORIES)))
                w = int(rng.integers(size // 6, size // 2.4))
                h = w if cat != 3 else int(w * rng.uniform(1.0, 1.4))
                h = min(h, size - 2)
                x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
                if all(
                    x + w <= bx or bx + bw <= x or y + h <= by or by + bh <= y
                    for bx, by, bw, bh in boxes
                ):
                    break
            else:
                continue
            mask = _shape_mask(SHAPES_CATEGORIES[cat], w, h, rng, digits)
            if not mask.any():
                continue
            colour = rng.uniform(0, 1, 3)
            colour[rng.integers(3)] = rng.choice([0.05, 0.95])  # saturated, off the background
            region = img[y : y + h, x : x + w]
            region[mask] = colour
            ys, xs = np.nonzero(mask)
            bx, by = x + int(xs.min()), y + int(ys.min())
            bw, bh = int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1
            boxes.append((x, y, w, h))
            anns.append({"bbox": [bx, by, bw, bh], "category_id": cat + 1})
        images.append((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
        annotations.append(anns)
    return images, annotations


def shapes_folder(cache_dir: Path, *, seed: int, n_train: int, n_test: int, size: int) -> Path:
    """The embedded dataset's COCO folder (written once per settings, atomically).

    Args:
        cache_dir: The cache folder; the dataset goes to ``datasets/shapes-<digest>`` below it.
        seed: Seed of the training images (the test images use ``seed + 7919``).
        n_train: Training images.
        n_test: Test images.
        size: Side of the square images.

    Returns:
        The dataset folder.
    """
    key = json.dumps([SHAPES_VERSION, seed, n_train, n_test, size])
    root = Path(cache_dir) / "datasets" / f"shapes-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (root / "annotations" / "instances_test.json").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".shapes-", dir=root.parent))
    try:
        categories = [{"id": i + 1, "name": n} for i, n in enumerate(SHAPES_CATEGORIES)]
        for split, n, split_seed in (("train", n_train, seed), ("test", n_test, seed + 7919)):
            images, anns = generate_shapes(n, seed=split_seed, size=size)
            write_coco(tmp, split, images, anns, categories)
        with contextlib.suppress(OSError):  # another process may have finished first
            os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def check_options(name: str, options: dict) -> tuple[str, str] | None:
    """The study file's check of a detection dataset (``DATASET_INFO``): an image size the
    detector can take, and for ``coco`` the annotation file of each split.

    Args:
        name: ``"shapes"`` or ``"coco"``.
        options: The dataset's options (``root`` resolved).

    Returns:
        None, or ``(key, problem)``.
    """
    if options["image_size"] % 8:
        return "image_size", "must be a multiple of 8 (the detector's coarsest stride)"
    if name == "coco":
        root = Path(options["root"])
        for key in ("train", "test"):
            ann = root / "annotations" / f"instances_{options[key]}.json"
            if not ann.is_file():
                return (
                    key,
                    f"must name a split with annotations/instances_<split>.json under {root}; {ann} does not exist",
                )
    return None


def load_detection_dataset(
    spec: dict[str, Any], *, seed: int, cache_dir: Path, image_size: int
) -> DetectionDataset:
    """The dataset a detection study names: ``shapes`` (embedded) or ``coco`` (a folder).

    Args:
        spec: The study's dataset: ``name`` and ``options`` (``n_train``, ``n_test`` for
            ``shapes``; ``root``, ``train``, ``test`` for ``coco``).
        seed: The study seed (generates ``shapes``).
        cache_dir: The study's cache folder (holds ``shapes``).
        image_size: Side of the square detector input.
    """
    opts = spec["options"]
    if spec["name"] == "shapes":
        root = shapes_folder(
            cache_dir, seed=seed, n_train=opts["n_train"], n_test=opts["n_test"], size=image_size
        )
        return load_coco(root, image_size=image_size, train="train", test="test")
    return load_coco(opts["root"], image_size=image_size, train=opts["train"], test=opts["test"])
