"""Corrupted sets larger than ``corruptions.cache_gb`` are made on the fly at every read:
the same values as the cached files (the same batches from the same generators), so the
same errors, without a byte on disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moo_compress.config import load_study_config
from moo_compress.corruptions.suite import CorruptedOnTheFly, write_corrupted_set
from moo_compress.evaluation import make_evaluator
from moo_compress.training import predict
from tests.conftest import write_study

NAMES = ["gaussian_noise", "fog", "contrast"]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(50, 1, 1, 3), dtype=np.uint8)
    noise = rng.integers(0, 40, size=(50, 224, 224, 3), dtype=np.uint8)
    return (base // 2 + noise).astype(np.uint8)  # 50 images of 224x224: two batches of 41


def test_read_on_the_fly_equals_the_cached_files_at_224(images, tmp_path):
    write_corrupted_set(images, np.zeros(50), NAMES, tmp_path, seed=3, parameters="imagenet")
    for name in NAMES:
        cached = np.load(tmp_path / f"{name}.npy")
        fly = CorruptedOnTheFly(images, name, seed=3, parameters="imagenet")
        assert fly.shape == cached.shape and len(fly) == 250
        assert np.array_equal(fly[:], cached)  # every severity, across batch boundaries
        assert np.array_equal(fly[30:130], cached[30:130])
        assert np.array_equal(fly[120:125], cached[120:125])  # further back: starts again
        rows = np.array([249, 3, 60, 41, 40, 200, 0])
        assert np.array_equal(fly[rows], cached[rows])
        assert np.array_equal(fly[7], cached[7])


def test_predictions_read_in_batches_are_the_cached_ones(images, tmp_path):
    write_corrupted_set(images, np.zeros(50), ["fog"], tmp_path, seed=0, parameters="imagenet")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 5, stride=4),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )
    fly = CorruptedOnTheFly(images, "fog", seed=0, parameters="imagenet")
    cached = np.load(tmp_path / "fog.npy", mmap_mode="r")
    assert torch.equal(predict(model, fly, batch_size=16), predict(model, cached, batch_size=16))


def test_a_study_over_its_cache_budget_measures_the_same_errors(tmp_path, shared_cache):
    plain = load_study_config(write_study(tmp_path / "a", cache_dir=shared_cache))
    path = write_study(tmp_path / "b", cache_dir=shared_cache)
    path.write_text(
        path.read_text().replace("severities: [1, 3, 5]}", "severities: [1, 3, 5], cache_gb: 0}")
    )
    cfg = load_study_config(path)
    assert cfg.corruption_cache_gb == 0 and cfg.fingerprint() == plain.fingerprint()
    cached = make_evaluator(plain.evaluation(), plain.cache_dir)
    lines: list[str] = []
    fly = make_evaluator(cfg.evaluation(), cfg.cache_dir, log=lines.append)
    assert all(isinstance(v, CorruptedOnTheFly) for v in fly.corrupted.values())
    assert any("more than corruptions.cache_gb (0)" in line for line in lines)
    model = cached.baseline_for(cached.arch["name"])
    assert fly.corruption_errors(model) == cached.corruption_errors(model)
    assert fly.reference.to_dict() == cached.reference.to_dict()
