"""Apply corruptions to whole test sets and cache them in the CIFAR-10-C on-disk layout."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from moo_compress.corruptions import CORRUPTIONS, SEVERITIES

# Bump when an implementation changes, so caches made by older code are not reused.
IMPLEMENTATION_VERSION = 2


def corruption_seed(seed: int, name: str, severity: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode()) * 7 + severity) % (2**63 - 1)


def corrupt_images(
    images: np.ndarray, name: str, severity: int, *, seed: int, batch_size: int = 2048
) -> np.ndarray:
    """Corrupt uint8 images (N, H, W, 3) at one severity; returns uint8 of the same shape.

    The same ``(seed, name, severity)`` gives the same output on every run.
    """
    import torch

    from moo_compress.data.base import to_tensor, to_uint8
    from moo_compress.device import get_device

    fn = CORRUPTIONS.get(name)
    gen = torch.Generator().manual_seed(corruption_seed(seed, name, severity))
    device = get_device()
    out = np.empty_like(images)
    for i in range(0, len(images), batch_size):
        batch = to_tensor(images[i : i + batch_size]).to(device)
        out[i : i + batch_size] = to_uint8(fn(batch, severity, gen))
    return out


def write_corrupted_set(
    images: np.ndarray, labels: np.ndarray, names, out_dir: Path, *, seed: int
) -> None:
    """Write ``<name>.npy`` (all five severities, severity 1 first) and ``labels.npy``.

    Files are written under a temporary name and renamed, so an interrupted run never
    leaves a half-written file that looks complete.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out_dir / f"{name}.npy"
        if target.exists():
            continue
        stacked = np.concatenate([corrupt_images(images, name, s, seed=seed) for s in SEVERITIES])
        _atomic_save(target, stacked)
    labels_path = out_dir / "labels.npy"
    if not labels_path.exists():
        _atomic_save(labels_path, np.tile(np.asarray(labels, dtype=np.uint8), len(SEVERITIES)))


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def cached_corrupted_set(
    images: np.ndarray, labels: np.ndarray, names, cache_root: Path, *, seed: int, data_key: str
) -> dict[str, np.ndarray]:
    """Memory-mapped corrupted test sets, generated on first use and reused afterwards.

    Returns:
        Corruption name -> uint8 array (5 * N, H, W, 3), severity 1 first.
    """
    digest = hashlib.sha256(f"{data_key}|{seed}|v{IMPLEMENTATION_VERSION}".encode()).hexdigest()[
        :16
    ]
    folder = cache_root / "corrupted" / digest
    write_corrupted_set(images, labels, names, folder, seed=seed)
    return {
        name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names
    }
