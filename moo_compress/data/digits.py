"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images), made CIFAR-shaped.

The 8x8 grey images (values 0..16) are upsampled to 32x32 with bilinear interpolation,
replicated to 3 channels and stored as uint8, so the corruption suite and architectures
that serve CIFAR apply unchanged. The train/test split is stratified and fixed by the seed.
"""

from __future__ import annotations

import numpy as np

from moo_compress.data.base import ImageDataset

__all__ = ["load_digits"]


def load_digits(*, seed: int, test_fraction: float) -> ImageDataset:
    """Load the digits dataset as 32x32 RGB uint8 images.

    Args:
        seed: Seed of the stratified train/test split.
        test_fraction: Share of images in the test split.
    """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    up = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    up = up.clamp(0, 1).repeat(1, 3, 1, 1)
    x = (up * 255.0).round().byte().permute(0, 2, 3, 1).contiguous().numpy()
    y = bunch.target.astype(np.int64)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=y
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return ImageDataset(
        name="digits",
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        num_classes=10,
    )
