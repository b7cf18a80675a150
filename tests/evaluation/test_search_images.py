"""``corruptions.n_images``: the search measures on a stratified, seeded subset of the
validation images, and corrupts only it; ``export``/``evaluate`` (the test split) measure
every image. A study that does not set it keeps its fingerprint and caches."""

from __future__ import annotations

import numpy as np
import pytest

from moo_compress.config import load_study_config
from moo_compress.errors import ConfigError
from moo_compress.evaluation import make_evaluator
from tests.conftest import write_study


def test_the_search_measures_a_stratified_subset_and_export_the_whole_test_split(
    tmp_path, shared_cache
):
    plain = load_study_config(write_study(tmp_path / "a", cache_dir=shared_cache))
    path = write_study(tmp_path / "b", cache_dir=shared_cache)
    path.write_text(
        path.read_text().replace(
            "corruptions: {names: [gaussian_noise, contrast], severities: [1, 3, 5]}",
            "corruptions: {names: [gaussian_noise, contrast], severities: [1, 3, 5], n_images: 60}",
        )
    )
    cfg = load_study_config(path)
    assert cfg.corruption_images == 60 and "corruption_images" not in plain.evaluation_spec()
    assert cfg.settings() != plain.settings()
    full = make_evaluator(plain.evaluation(), plain.cache_dir)
    sub = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    y_full, y_sub = full.dataset.y_test, sub.dataset.y_test
    assert len(y_sub) == 60 and all(v.shape[0] == 5 * 60 for v in sub.corrupted.values())
    expected = np.bincount(y_full, minlength=10) * 60 / len(y_full)
    assert np.abs(np.bincount(y_sub, minlength=10) - expected).max() <= 1  # stratified
    rows = [
        np.flatnonzero((full.dataset.x_test == x).all(axis=(1, 2, 3)))[0]
        for x in sub.dataset.x_test
    ]
    again = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    assert np.array_equal(again.dataset.x_test, sub.dataset.x_test)  # the same seed, the same rows
    assert len(set(rows)) == 60
    test = make_evaluator(cfg.evaluation(), cfg.cache_dir, split="test")
    test_plain = make_evaluator(plain.evaluation(), plain.cache_dir, split="test")
    assert np.array_equal(test.dataset.y_test, test_plain.dataset.y_test)
    assert sub.data_key() != full.data_key()


def test_n_images_is_checked(tmp_path):
    path = write_study(tmp_path)
    path.write_text(
        path.read_text().replace("severities: [1, 3, 5]}", "severities: [1], n_images: 0}")
    )
    with pytest.raises(ConfigError, match="corruptions.n_images: must be an int in"):
        load_study_config(path)
