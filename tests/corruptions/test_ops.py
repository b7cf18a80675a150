"""Each corruption: shape, dtype, range, determinism, severity ordering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moo_compress.corruptions import CORRUPTIONS
from moo_compress.corruptions.ops import _pil_box_matrix
from moo_compress.corruptions.suite import corrupt_images, write_corrupted_set


@pytest.fixture(scope="module")
def images():
    from moo_compress.data.digits import load_digits

    return load_digits(seed=0, test_fraction=0.3).x_test[:200]


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_corruption_contract(images, name):
    dists = []
    for s in range(1, 6):
        out = corrupt_images(images, name, s, seed=1)
        assert out.shape == images.shape and out.dtype == np.uint8
        assert np.array_equal(out, corrupt_images(images, name, s, seed=1)), (
            "same seed, same output"
        )
        dists.append(np.abs(out.astype(float) - images).mean())
    assert dists[0] > 0
    assert all(b >= a - 1e-9 for a, b in zip(dists, dists[1:], strict=False)), dists


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_float_range_on_tensors(name):
    x = torch.rand(3, 3, 32, 32)
    y = CORRUPTIONS.get(name)(x, 5, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("size", [30, 28, 27, 24, 20])
def test_box_resampling_matches_pil(size):
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    m = _pil_box_matrix(32, size).astype(np.float64)
    # One pass (resize along one axis only) equals PIL's up to its final rounding to uint8.
    one_pass = np.asarray(Image.fromarray(img).resize((size, 32), Image.BOX), dtype=float)
    assert np.abs(img.astype(float) @ m.T - one_pass).max() <= 0.5 + 1e-3
    # Both passes: PIL also rounds between them, we stay in float (documented deviation).
    ref = np.asarray(Image.fromarray(img).resize((size, size), Image.BOX), dtype=float)
    assert np.abs(m @ img.astype(float) @ m.T - ref).max() <= 1.0 + 1e-3


def test_cifar_c_layout(tmp_path, images):
    labels = np.arange(len(images)) % 10
    write_corrupted_set(images, labels, ["contrast"], tmp_path, seed=0)
    arr = np.load(tmp_path / "contrast.npy", allow_pickle=False)
    assert arr.shape == (5 * len(images), 32, 32, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr[: len(images)], corrupt_images(images, "contrast", 1, seed=0))
    lab = np.load(tmp_path / "labels.npy", allow_pickle=False)
    assert lab.dtype == np.uint8 and lab.shape == (5 * len(images),)
