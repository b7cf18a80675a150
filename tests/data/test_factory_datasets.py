"""A study file's ``dataset: {factory: "package.module:callable"}``: the user's own torch
datasets, returned by their function, read batch by batch into the study's cache (named by
their content) and searched like any other dataset; and the one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moo_compress.config import load_study_config
from moo_compress.data.digits import load_digits
from moo_compress.data.torch_datasets import as_image, load_factory, read_dataset
from moo_compress.errors import ConfigError, DataError
from tests.conftest import cli, write_study

HERE = "tests.data.test_factory_datasets"


class Pairs:
    """A torch-style dataset of ``(float tensor (3, H, W) in [0, 1], label)``, as
    ``transforms.ToTensor()`` gives."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.x[i]).permute(2, 0, 1).float() / 255.0, int(self.y[i])


def digit_datasets():
    """Digits as the built-in ``digits`` dataset splits them (seed 3): train, no val (held
    out by the study), test."""
    ds = load_digits(seed=3, test_fraction=0.3)
    return Pairs(ds.x_train, ds.y_train), None, Pairs(ds.x_test, ds.y_test)


def mapping_datasets():
    ds = load_digits(seed=3, test_fraction=0.3)
    n = len(ds.y_train) // 4
    return {
        "train": Pairs(ds.x_train[n:], ds.y_train[n:]),
        "val": Pairs(ds.x_train[:n], ds.y_train[:n]),
        "test": Pairs(ds.x_test, ds.y_test),
    }


def not_datasets():
    return 42


class Broken(Pairs):
    def __getitem__(self, i: int):
        return "not an image", 0


def broken_datasets():
    ds = load_digits(seed=3, test_fraction=0.3)
    return Broken(ds.x_train, ds.y_train), Pairs(ds.x_test, ds.y_test)


NOT_CALLABLE = 3


def test_the_factory_s_datasets_are_read_into_the_cache_named_by_their_content(tmp_path):
    lines: list[str] = []
    got = load_factory(
        seed=0, factory=f"{HERE}:digit_datasets", cache_dir=tmp_path, log=lines.append
    )
    want = load_digits(seed=3, test_fraction=0.3)
    assert isinstance(got.x_train, np.memmap) and got.x_val is None
    assert np.array_equal(got.x_train, want.x_train) and np.array_equal(got.y_test, want.y_test)
    assert np.array_equal(got.x_test, want.x_test) and got.num_classes == 10
    assert any(line.startswith(f"read {len(want.y_train):,}/") for line in lines)
    again = load_factory(seed=0, factory=f"{HERE}:digit_datasets", cache_dir=tmp_path)
    assert again.x_train.filename == got.x_train.filename  # the same content, the same file
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(files) == 2 and all(f.startswith("torch-") for f in files)  # nothing half-written
    other = load_factory(seed=0, factory=f"{HERE}:mapping_datasets", cache_dir=tmp_path)
    assert other.x_train.filename != got.x_train.filename and other.x_val is not None
    assert len(other.y_val) + len(other.y_train) == len(want.y_train)


def test_images_of_every_kind_are_read_as_uint8_pixels():
    import torch
    from PIL import Image

    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)
    for img in (rgb, Image.fromarray(rgb), tensor, tensor.float() / 255.0):
        assert np.array_equal(as_image(img), rgb)
    grey = torch.zeros(1, 4, 5)
    assert as_image(grey).shape == (4, 5, 3)
    with pytest.raises(DataError, match="an image must be a PIL image"):
        as_image(np.zeros((4, 5), dtype=np.float32))
    x, y = read_dataset(Pairs(np.repeat(rgb[None], 3, 0), np.arange(3)), cache_dir=None)
    assert x.shape == (3, 4, 5, 3) and list(y) == [0, 1, 2]


def test_a_study_file_searches_the_factory_s_datasets(tmp_path):
    study = write_study(tmp_path, n_trials=2, driver="optuna-random")
    study.write_text(
        study.read_text().replace(
            "dataset: {name: digits, test_fraction: 0.3}",
            f"dataset: {{factory: '{HERE}:digit_datasets', num_workers: 1}}",
        )
    )
    cfg = load_study_config(study)
    assert cfg.dataset.name == "factory" and cfg.dataset.num_workers == 1
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "read 1,257/1,257 images of train" in res.stderr
    rows = json.loads(cli("pareto", str(study), "--all", "--format", "json").stdout)
    assert len(rows) == 2 and all(50.0 < r["accuracy"] <= 100.0 for r in rows)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("no_colon", "dataset.factory: must be 'package.module:callable'"),
        (f"{HERE}:missing", "dataset.factory: must be an importable callable"),
        (f"{HERE}:NOT_CALLABLE", "is a int, not a callable"),
    ],
)
def test_a_bad_factory_is_refused_when_the_study_file_is_read(tmp_path, factory, message):
    study = write_study(tmp_path)
    study.write_text(
        study.read_text().replace(
            "dataset: {name: digits, test_fraction: 0.3}", f"dataset: {{factory: '{factory}'}}"
        )
    )
    with pytest.raises(ConfigError, match=message):
        load_study_config(study)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("not_datasets", "must return \\(train, val, test\\) datasets .* Got int instead"),
        ("broken_datasets", "the train dataset \\[0\\]: an image must be a PIL image"),
    ],
)
def test_what_the_factory_returns_is_checked_in_one_line(tmp_path, factory, message):
    with pytest.raises(DataError, match=message):
        load_factory(seed=0, factory=f"{HERE}:{factory}", cache_dir=tmp_path)
    assert not any((tmp_path / "images").glob("*.npy"))  # nothing half-written
