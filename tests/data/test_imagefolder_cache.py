"""Image folders larger than memory: each split is decoded once (by ``num_workers``
processes) into a memory-mapped ``.npy`` file of the cache, keyed by the image files; held-out
rows and corrupted sets are written piece by piece to files, never gathered in memory."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from moo_compress.config import load_study_config
from moo_compress.corruptions.suite import SEVERITIES, corrupt_images, write_corrupted_set
from moo_compress.data import imagefolder
from moo_compress.data.base import select_split
from moo_compress.data.imagefolder import list_split, load_imagefolder, read_split
from moo_compress.errors import ConfigError, DataError
from tests.test_own_model import write_imagefolder

SIZE = 24


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    write_imagefolder(root, size=20)  # decoded at 24: resized, not copied
    return root


def test_a_split_is_decoded_once_into_a_memory_mapped_file_equal_to_decoding_in_memory(
    folder, tmp_path, monkeypatch
):
    classes = sorted(p.name for p in (folder / "train").iterdir())
    plain, labels = read_split(folder / "train", classes, SIZE)
    lines = []
    cached, cached_labels = read_split(
        folder / "train", classes, SIZE, cache_dir=tmp_path, log=lines.append
    )
    assert isinstance(cached, np.memmap) and not isinstance(plain, np.memmap)
    assert np.array_equal(cached, plain) and np.array_equal(cached_labels, labels)
    assert cached.shape == (200, SIZE, SIZE, 3) and cached.dtype == np.uint8
    assert lines and lines[-1].startswith("decoded 200/200 images of")

    def refuse(*_):
        raise AssertionError("decoded again")

    monkeypatch.setattr(imagefolder, "_load", refuse)  # the next run reads the file
    again, _ = read_split(folder / "train", classes, SIZE, cache_dir=tmp_path)
    assert np.array_equal(again, plain) and again.filename == cached.filename


def test_several_workers_decode_the_same_images_in_the_same_order(folder):
    classes = sorted(p.name for p in (folder / "train").iterdir())
    one, _ = read_split(folder / "test", classes, SIZE)
    two, _ = read_split(folder / "test", classes, SIZE, num_workers=2)
    assert np.array_equal(one, two)


def test_a_changed_image_makes_a_new_cache_file(tmp_path):
    root = tmp_path / "data"
    write_imagefolder(root, size=16)
    ds = load_imagefolder(seed=0, root=str(root), image_size=16, cache_dir=tmp_path / "c")
    files, _ = list_split(root / "train", sorted(p.name for p in (root / "train").iterdir()))
    img = np.asarray(Image.open(files[0]))
    Image.fromarray(255 - img).save(files[0])
    changed = load_imagefolder(seed=0, root=str(root), image_size=16, cache_dir=tmp_path / "c")
    assert changed.x_train.filename != ds.x_train.filename
    assert not np.array_equal(changed.x_train[0], ds.x_train[0])
    assert np.array_equal(changed.x_train[1:], ds.x_train[1:])
    assert changed.x_test.filename == ds.x_test.filename  # the test split did not change


def test_an_unreadable_image_is_one_line_even_from_a_worker(tmp_path):
    root = tmp_path / "data"
    write_imagefolder(root, size=16)
    (root / "test" / "digit3" / "broken.png").write_bytes(b"not a png")
    classes = sorted(p.name for p in (root / "train").iterdir())
    for workers in (0, 2):
        with pytest.raises(DataError, match="broken.png: not a readable image") as info:
            read_split(root / "test", classes, 16, cache_dir=tmp_path / "c", num_workers=workers)
        assert "\n" not in str(info.value)
    assert not list((tmp_path / "c" / "images").glob("*.npy"))  # nothing half-written


def test_held_out_rows_of_a_memory_mapped_set_stay_on_disk(folder, tmp_path):
    ds = load_imagefolder(seed=0, root=str(folder), image_size=SIZE, cache_dir=tmp_path)
    plain = load_imagefolder(seed=0, root=str(folder), image_size=SIZE)
    for split in ("validation", "test"):
        got, want = select_split(ds, split, 0.2, 3), select_split(plain, split, 0.2, 3)
        assert isinstance(got.x_train, np.memmap) and isinstance(got.x_test, np.memmap)
        assert np.array_equal(got.x_train, want.x_train)
        assert np.array_equal(got.x_test, want.x_test)
        assert np.array_equal(got.y_test, want.y_test)


def test_corrupted_sets_are_written_severity_by_severity_with_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 24, 24, 3), dtype=np.uint8)
    write_corrupted_set(x, np.arange(12) % 10, ["glass_blur"], tmp_path, seed=5)
    want = np.concatenate([corrupt_images(x, "glass_blur", s, seed=5) for s in SEVERITIES])
    got = np.load(tmp_path / "glass_blur.npy", mmap_mode="r")
    assert np.array_equal(got, want)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_num_workers_is_read_for_image_folders_and_is_not_part_of_the_identity(folder, tmp_path):
    def study(name: str, extra: str) -> str:
        (tmp_path / "space.yaml").write_text(
            "variables: {prune_ratio: {type: float, low: 0, high: 0.5}}\n"
        )
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"study: {{name: s}}\n"
            f"dataset: {{name: imagefolder, root: {folder}, image_size: {SIZE}{extra}}}\n"
            "search_space: space.yaml\nobjectives: [accuracy, cr]\nbudget: {n_trials: 2}\n"
        )
        return path

    zero = load_study_config(study("a", ""))
    two = load_study_config(study("b", ", num_workers: 2"))
    assert (zero.dataset.num_workers, two.dataset.num_workers) == (0, 2)
    assert zero.settings() == two.settings()
    with pytest.raises(ConfigError, match="dataset.num_workers: must be an int in \\[0, 64\\]"):
        load_study_config(study("c", ", num_workers: -1"))
    digits = tmp_path / "d.yaml"
    digits.write_text(
        "study: {name: s}\ndataset: {name: digits, num_workers: 2}\n"
        "search_space: space.yaml\nobjectives: [accuracy, cr]\nbudget: {n_trials: 2}\n"
    )
    with pytest.raises(ConfigError, match="dataset.num_workers"):
        load_study_config(digits)


def test_a_study_on_an_image_folder_measures_memory_mapped_images(folder, tmp_path):
    from moo_compress.evaluation import make_evaluator

    (tmp_path / "space.yaml").write_text(
        "variables: {prune_ratio: {type: float, low: 0, high: 0.5}}\n"
    )
    path = tmp_path / "study.yaml"
    path.write_text(
        f"study: {{name: s}}\n"
        f"dataset: {{name: imagefolder, root: {folder}, image_size: 32, num_workers: 2}}\n"
        "model: {arch: small_cnn, width: 0.25}\nbaseline: {epochs: 1}\n"
        "search_space: space.yaml\nobjectives: [accuracy, cr, mce]\nbudget: {n_trials: 2}\n"
        "corruptions: {names: [contrast], severities: [2]}\n"
    )
    cfg = load_study_config(path)
    lines = []
    ev = make_evaluator(cfg.evaluation(), cfg.cache_dir, log=lines.append)
    ds = ev.evaluation_set.dataset
    assert isinstance(ds.x_train, np.memmap) and isinstance(ds.x_test, np.memmap)
    assert all(isinstance(v, np.memmap) for v in ev.evaluation_set.corrupted.values())
    assert any(line.startswith("decoded 200/200 images") for line in lines)
    # every cache made from decoded images is keyed by them, in a multi-fidelity view too
    assert (
        ev._content_key()
        and ev.at_fidelity({"severities": [2]})._content_key() == ev._content_key()
    )
    values = ev.evaluate({"prune_ratio": 0.3}, "k").values
    assert 0 <= values["accuracy"] <= 100 and values["mce"] > 0
