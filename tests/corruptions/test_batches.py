"""Corrupting in batches of a fixed number of pixels keeps memory bounded at any image size
(2048 images of 32x32, 512 of 64x64, 41 of 224x224); sets drawn in other batches than 2048
images are cached under their own key."""

from __future__ import annotations

import numpy as np

from moo_compress.corruptions import CORRUPTIONS
from moo_compress.corruptions.suite import BATCH_PIXELS, cached_corrupted_set, corrupt_images


def _batches(monkeypatch, n: int, size: int) -> list[int]:
    seen: list[int] = []
    fn = CORRUPTIONS.get("contrast")

    def spy(x, severity, gen, *, parameters):
        seen.append(len(x))
        return fn(x, severity, gen, parameters=parameters)

    monkeypatch.setattr(CORRUPTIONS, "get", lambda name: spy)
    corrupt_images(np.zeros((n, size, size, 3), np.uint8), "contrast", 1, seed=0)
    return seen


def test_a_batch_holds_a_fixed_number_of_pixels(monkeypatch):
    assert BATCH_PIXELS == 2048 * 32 * 32
    assert _batches(monkeypatch, 3000, 32) == [2048, 952]
    assert _batches(monkeypatch, 1100, 64) == [512, 512, 76]
    assert _batches(monkeypatch, 50, 224) == [41, 9]


def test_sets_of_larger_images_are_cached_under_their_batch(tmp_path):
    y = np.arange(4) % 2
    small = cached_corrupted_set(
        np.zeros((4, 32, 32, 3), np.uint8), y, ["contrast"], tmp_path, seed=0, data_key="k"
    )
    large = cached_corrupted_set(
        np.zeros((4, 64, 64, 3), np.uint8), y, ["contrast"], tmp_path, seed=0, data_key="k"
    )
    assert small["contrast"].filename != large["contrast"].filename
