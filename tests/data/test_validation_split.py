"""Drivers see the validation split (held out from the training data); the test split is
touched only by export/evaluate."""

from __future__ import annotations

import numpy as np
import pytest

from moo_compress.data.base import select_split, validation_indices
from moo_compress.data.digits import load_digits
from tests.conftest import write_study


def _rows(images: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in images}


def test_validation_rows_come_from_training_data_stratified_and_seeded():
    ds = load_digits(seed=3, test_fraction=0.3)
    val = select_split(ds, "validation", 0.2, seed=3)
    test = select_split(ds, "test", 0.2, seed=3)
    # both splits train on the same rows; validation rows are the held-out training rows
    assert np.array_equal(val.x_train, test.x_train)
    assert len(val.x_train) + len(val.x_test) == len(ds.x_train)
    assert np.array_equal(test.x_test, ds.x_test)
    assert _rows(val.x_test) <= _rows(ds.x_train)
    assert not _rows(val.x_test) & _rows(val.x_train) - _rows(ds.x_test)
    # stratified: every class keeps its share (within one image)
    for c in range(10):
        share = (ds.y_train == c).sum() * 0.2
        assert abs((val.y_test == c).sum() - share) <= 1
    tr, va = validation_indices(ds.y_train, 0.2, seed=3)
    assert np.array_equal(tr, validation_indices(ds.y_train, 0.2, seed=3)[0])
    assert not np.array_equal(va, validation_indices(ds.y_train, 0.2, seed=4)[1])
    with pytest.raises(ValueError, match="split must be one of"):
        select_split(ds, "train", 0.2, seed=3)


def test_the_search_evaluator_never_sees_the_test_split(tmp_path):
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(write_study(tmp_path, cache_dir=tmp_path / "cache"))
    spec = cfg.evaluation_spec()
    assert spec["dataset"]["validation_fraction"] == 0.2
    raw = load_digits(seed=cfg.seed, test_fraction=0.3)
    ev = make_evaluator(spec, cfg.cache_dir)
    assert ev.split == "validation"
    assert not _rows(ev.dataset.x_test) & _rows(raw.x_test)
    assert not _rows(ev.dataset.x_train) & _rows(raw.x_test)
    # the corrupted images the search measures are corruptions of validation images
    n = len(ev.dataset.y_test)
    assert all(len(arr) == n * 5 for arr in ev.corrupted.values())  # all five severities
    test_ev = make_evaluator(spec, cfg.cache_dir, split="test")
    assert np.array_equal(test_ev.dataset.x_test, raw.x_test)
    # same training rows, same cached baseline; each split its own reference
    assert test_ev.baseline_path == ev.baseline_path
    assert test_ev.reference.corruption_errors != ev.reference.corruption_errors


def test_reference_errors_are_cached_per_corruption_version_and_split(tmp_path, monkeypatch):
    """Before: the cache key lacked the corruption implementation version, so after a
    corruption change mCE would have divided new errors by the old reference's."""
    import moo_compress.corruptions.suite as suite
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(write_study(tmp_path, cache_dir=tmp_path / "cache"))
    ev = make_evaluator(cfg.evaluation_spec(), cfg.cache_dir)
    key = ev._reference_key("baseline")
    monkeypatch.setattr(suite, "IMPLEMENTATION_VERSION", suite.IMPLEMENTATION_VERSION + 1)
    assert ev._reference_key("baseline") != key
    monkeypatch.undo()
    ev.split = "test"
    assert ev._reference_key("baseline") != key
