"""The Tiny-ImageNet-C (64x64) and ImageNet-C (224x224) parameter sets against outputs of the
original scripts (hendrycks/robustness ``make_tinyimagenet_c.py``, ``make_imagenet_c.py``),
pinned in ``fixtures/original_<set>_<size>.npz`` by ``benchmarks/corruption_fidelity.py
--fixture`` (its run in ``benchmarks/results/corruption_fidelity.json`` compares whole
distributions; these tests keep the suite from drifting from it).

Each fixture holds a few clean images, central crops of the original's outputs of every
deterministic corruption at every severity, and the original's mean absolute change per
severity over all the run's images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moo_compress.corruptions import CORRUPTIONS
from moo_compress.corruptions.suite import corrupt_images

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [("tinyimagenet", 64), ("imagenet", 224)]
#: The crop the fixtures hold (benchmarks/corruption_fidelity.py FIXTURE_CROP).
CROP = 24
#: Random corruptions whose mean change over a couple of images need not grow with the
#: severity although the original's over hundreds does: frost picks one of five photographs
#: per image (mean brightness 123-207), fog draws one plasma fractal per image.
PER_IMAGE_CHANCE = {"frost", "fog"}


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def case(request):
    parameters, size = request.param
    pinned = np.load(FIXTURES / f"original_{parameters}_{size}.npz")
    clean = pinned["clean"]
    outputs = {
        name: np.stack(
            [corrupt_images(clean, name, s, seed=0, parameters=parameters) for s in range(1, 6)]
        )
        for name in CORRUPTIONS.names()
    }
    return parameters, size, pinned, clean, outputs


def test_every_corruption_keeps_shape_and_dtype_and_repeats_with_its_seed(case):
    parameters, size, _, clean, outputs = case
    for name, out in outputs.items():
        assert out.shape == (5, *clean.shape) and out.dtype == np.uint8, name
        again = corrupt_images(clean, name, 3, seed=0, parameters=parameters)
        assert np.array_equal(again, out[2]), name
    other = corrupt_images(clean, "gaussian_noise", 3, seed=1, parameters=parameters)
    assert not np.array_equal(other, outputs["gaussian_noise"][2])


def test_deterministic_corruptions_match_the_original_within_one_grey_level(case):
    parameters, size, pinned, _, outputs = case
    top = (size - CROP) // 2
    crops = [k.removeprefix("crop_") for k in pinned.files if k.startswith("crop_")]
    assert len(crops) >= 7
    for name in crops:
        ours = outputs[name][:, :, top : top + CROP, top : top + CROP].astype(int)
        d = np.abs(ours - pinned[f"crop_{name}"].astype(int))
        for s in range(5):
            assert (d[s] <= 1).mean() >= 0.99, (name, s + 1, (d[s] <= 1).mean())


def test_severities_grow_where_the_original_s_do(case):
    parameters, _, pinned, clean, outputs = case
    for name, out in outputs.items():
        original = pinned[f"change_{name}"]
        if not (np.diff(original) > 0).all() or name in PER_IMAGE_CHANCE:
            continue  # the original's own exceptions (e.g. glass blur's fewer iterations)
        ours = [np.abs(out[s].astype(float) - clean).mean() for s in range(5)]
        assert (np.diff(ours) > 0).all(), (name, ours)
