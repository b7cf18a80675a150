"""In-memory image datasets in the CIFAR layout: uint8 images (N, H, W, 3) and int labels."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of uint8 RGB images.

    Attributes:
        name: Dataset name.
        x_train: uint8 array (N, H, W, 3).
        y_train: int64 labels (N,).
        x_test: uint8 array (M, H, W, 3).
        y_test: int64 labels (M,).
        num_classes: Number of classes.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def to_tensor(images: np.ndarray):
    """uint8 (N, H, W, C) -> float32 tensor (N, C, H, W) in [0, 1]."""
    import torch

    arr = images if images.flags.writeable and images.flags.c_contiguous else np.array(images)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch) -> np.ndarray:
    """float tensor (N, C, H, W) in [0, 1] -> uint8 array (N, H, W, C), rounded."""
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
    """uint8 (N, H, W, 3) -> uint8 (N, H, W, 3): Rec. 601 luma, rounded, in all channels."""
    luma = images.astype(np.float32) @ np.asarray(REC601, dtype=np.float32)
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def greyscale_dataset(ds: ImageDataset) -> ImageDataset:
    return replace(
        ds,
        name=f"{ds.name} (greyscale)",
        x_train=greyscale(ds.x_train),
        x_test=greyscale(ds.x_test),
    )
