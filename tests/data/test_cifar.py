"""CIFAR-10/100 and CIFAR-C loaders on small files written in the exact official formats."""

from __future__ import annotations

import pickle
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest

from moo_compress.data.cifar import load_cifar, load_corrupted_folder
from moo_compress.errors import ConfigError, DataError


def _py2_pickle(obj) -> bytes:
    """``obj`` pickled as Python 2's cPickle (protocol 2) with numpy 1.x wrote the official
    files: str as BINSTRING, uint8 arrays through ``numpy.core.multiarray._reconstruct``."""

    def string(text) -> bytes:
        raw = text.encode("latin1") if isinstance(text, str) else bytes(text)
        if len(raw) < 256:
            return b"U" + bytes([len(raw)]) + raw
        return b"T" + struct.pack("<i", len(raw)) + raw

    def integer(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    def dump(value) -> bytes:
        if isinstance(value, (str, bytes)):
            return string(value)
        if isinstance(value, bool) or value is None:
            raise TypeError(value)
        if isinstance(value, (int, np.integer)):
            return integer(int(value))
        if isinstance(value, list):
            return b"](" + b"".join(dump(v) for v in value) + b"e"
        if isinstance(value, dict):
            return b"}(" + b"".join(dump(k) + dump(v) for k, v in value.items()) + b"u"
        assert isinstance(value, np.ndarray) and value.dtype == np.uint8
        shape = b"(" + b"".join(integer(d) for d in value.shape) + b"t"
        dtype = b"cnumpy\ndtype\n" + string("u1") + b"K\x00K\x01\x87R"
        dtype += b"(K\x03" + string("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
            + string("b")
            + b"\x87R(K\x01"
            + shape
            + dtype
            + b"\x89"
            + string(value.tobytes())
            + b"tb"
        )

    return b"\x80\x02" + dump(obj) + b"."


def _batch(rng, n: int, classes: int, label_key: str, name: str) -> dict:
    labels = rng.integers(0, classes, n).tolist()
    out = {
        "batch_label": name,
        label_key: labels,
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    if label_key == "fine_labels":
        out["coarse_labels"] = [v // 5 for v in labels]
    return out


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 60, n_test: int = 30) -> Path:
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        per = n_train // 5
        for i in range(1, 6):
            b = _batch(rng, per, 10, "labels", f"training batch {i} of 5")
            (folder / f"data_batch_{i}").write_bytes(_py2_pickle(b))
        b = _batch(rng, n_test, 10, "labels", "testing batch 1 of 1")
        (folder / "test_batch").write_bytes(_py2_pickle(b))
        meta = {"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": per}
        (folder / "batches.meta").write_bytes(_py2_pickle(meta))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        for split, n in (("train", n_train), ("test", n_test)):
            b = _batch(rng, n, 100, "fine_labels", split)
            (folder / split).write_bytes(_py2_pickle(b))
        meta = {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": []}
        (folder / "meta").write_bytes(_py2_pickle(meta))
    return root


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_official_format_loads(tmp_path, name):
    root = write_cifar(tmp_path, name)
    ds = load_cifar(name, root=str(root), seed=0)
    assert ds.x_train.shape == (60, 32, 32, 3) and ds.x_test.shape == (30, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.num_classes == (10 if name == "cifar10" else 100)
    # rows are 1024 R, 1024 G, 1024 B values, row-major
    folder = next(root.iterdir())
    raw = pickle.loads(
        (folder / ("test_batch" if name == "cifar10" else "test")).read_bytes(), encoding="latin1"
    )
    assert np.array_equal(ds.x_test[0, :, :, 1], raw["data"][0, 1024:2048].reshape(32, 32))
    sub = load_cifar(name, root=str(root), seed=0, test_subset=7, train_subset=5)
    assert len(sub.y_test) == 7 and len(sub.y_train) == 5


def test_python3_pickles_load(tmp_path):
    root = write_cifar(tmp_path)
    for file in (root / "cifar-10-batches-py").iterdir():  # what Python 3 writes by default
        entry = pickle.loads(file.read_bytes(), encoding="latin1")
        file.write_bytes(pickle.dumps(entry, protocol=4))
    ds = load_cifar("cifar10", root=str(root), seed=0)
    assert ds.x_train.shape == (60, 32, 32, 3) and ds.x_test.shape == (30, 32, 32, 3)


class _Planted:
    """What an attacker pickles: unpickling it calls ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _planted_batches(target: Path):
    import builtins
    import os

    yield _Planted(os.system, f"touch {target}")
    yield {"data": _Planted(builtins.open, str(target), "w"), "labels": [1]}
    yield {"data": _Planted(eval, f"open({str(target)!r}, 'w')"), "labels": [1]}
    yield _Planted(Path.touch, target)


@pytest.mark.parametrize("case", range(4))
def test_a_planted_batch_never_runs_code(tmp_path, capsys, case):
    """Anyone who can write the data folder must not get code run by a search."""
    from moo_compress.cli import main

    target = tmp_path / "pwned"
    planted = list(_planted_batches(target))[case]
    write_cifar(tmp_path / "data")
    batch = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps(planted, protocol=2))
    with pytest.raises(DataError) as info:
        load_cifar("cifar10", root=str(tmp_path / "data"), seed=0)
    message = str(info.value)
    assert message.startswith(f"{batch}: refused to unpickle the training split: the file asks for")
    assert "an official CIFAR batch never does (it could run code)" in message
    assert len(message.splitlines()) == 1 and not target.exists()
    # the CLI: exit code 2, one line, the file never created
    assert (
        main(
            [
                "corrupt",
                "--dataset",
                "cifar10",
                "--root",
                str(tmp_path / "data"),
                "--out",
                str(tmp_path / "C"),
                "--corruptions",
                "fog",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "refused to unpickle" in err and len(err.strip().splitlines()) == 1
    assert not target.exists() and not (tmp_path / "C").exists()


def test_missing_and_malformed_cifar(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py/ with data_batch_1"):
        load_cifar("cifar10", root=str(tmp_path), seed=0)
    root = write_cifar(tmp_path / "bad")
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read the test split"):
        load_cifar("cifar10", root=str(root), seed=0)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(_py2_pickle({"data": "x"}))
    with pytest.raises(DataError, match="expected a dict with 'data', a uint8 array"):
        load_cifar("cifar10", root=str(root), seed=0)
    bad = {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(_py2_pickle(bad))
    with pytest.raises(DataError, match=r"got 'data' uint8 \(2, 100\)"):
        load_cifar("cifar10", root=str(root), seed=0)


def _write_c(folder: Path, labels: np.ndarray, names, n_sev: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in names:
        arr = rng.integers(0, 256, (n_sev * len(labels), 32, 32, 3), dtype=np.uint8)
        np.save(folder / f"{name}.npy", arr)
    np.save(folder / "labels.npy", np.tile(labels.astype(np.uint8), n_sev))


def test_cifar_c_folder(tmp_path):
    labels = np.arange(20) % 10
    _write_c(tmp_path / "C", labels, ["fog", "snow"])
    full = load_corrupted_folder(tmp_path / "C", ["fog"], y_test=labels)
    assert full["fog"].shape == (100, 32, 32, 3) and isinstance(full["fog"], np.memmap)
    part = load_corrupted_folder(tmp_path / "C", ["fog", "snow"], y_test=labels[:6])
    raw = np.load(tmp_path / "C" / "fog.npy")
    assert np.array_equal(part["fog"][6:12], raw[20:26])  # severity 2 block, first 6 images
    with pytest.raises(DataError, match=r"frost.npy: expected uint8 array \(100, 32, 32, 3\)"):
        load_corrupted_folder(tmp_path / "C", ["frost"], y_test=labels)
    with pytest.raises(DataError, match="labels do not match"):
        load_corrupted_folder(tmp_path / "C", ["fog"], y_test=(labels + 1) % 10)
    np.save(tmp_path / "C" / "snow.npy", np.zeros((100, 32, 32), dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"snow.npy: expected uint8 array \(100, 32, 32, 3\), got uint8 \(100, 32, 32\)",
    ):
        load_corrupted_folder(tmp_path / "C", ["snow"], y_test=labels)


STUDY = """
study: {{name: cif, seed: 1}}
dataset: {{name: cifar10, root: {root}{extra}}}
model: {{arch: small_cnn, width: 0.25}}
baseline: {{epochs: 1}}
search_space: space.yaml
objectives: [accuracy, cr, mce]
record: [accuracy, cr, mce, relative_mce, robustness_ratio]
budget: {{n_trials: 2}}
driver: {{name: optuna-random}}
corruptions: {{names: [fog, contrast]}}
"""


def _study(tmp_path: Path, root: str, extra: str = "") -> Path:
    from tests.conftest import TINY_SPACE

    (tmp_path / "space.yaml").write_text(TINY_SPACE)
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(STUDY.format(root=root, extra=extra)))
    return path


def test_study_errors_name_the_folder(tmp_path):
    from moo_compress.config import load_study_config

    with pytest.raises(
        ConfigError,
        match="dataset.root: expected the extracted official cifar10 archive .*is not a directory",
    ):
        load_study_config(_study(tmp_path, str(tmp_path / "nowhere")))
    write_cifar(tmp_path / "data")
    with pytest.raises(ConfigError, match="dataset.corrupted_root: must be a CIFAR-C style folder"):
        load_study_config(_study(tmp_path, "data", ", corrupted_root: nope"))


def test_search_on_cifar_with_a_c_folder_made_by_corrupt(tmp_path):
    """`moo-compress corrupt` writes the official -C layout; a study then reads it."""
    from moo_compress.cli import main
    from moo_compress.config import load_study_config
    from moo_compress.runner import run_search

    write_cifar(tmp_path / "data")
    code = main(
        [
            "corrupt",
            "--dataset",
            "cifar10",
            "--root",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "C"),
            "--corruptions",
            "fog,contrast",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    labels = np.load(tmp_path / "C" / "labels.npy")
    assert labels.dtype == np.uint8 and labels.shape == (150,)
    cfg = load_study_config(_study(tmp_path, "data", ", corrupted_root: C"))
    summary = run_search(cfg, show_progress=False)
    assert summary["complete"] == 2
    # the generated sets equal the folder's: the same seed gives the same corruptions
    (tmp_path / "gen").mkdir()
    cfg2 = load_study_config(_study(tmp_path / "gen", str(tmp_path / "data")))
    from moo_compress.evaluation import Evaluator

    ev = Evaluator(cfg2.evaluation_spec(), tmp_path / "cache", split="test")
    assert np.array_equal(np.asarray(ev.corrupted["fog"]), np.load(tmp_path / "C" / "fog.npy"))
    # the search corrupts its validation images itself (a -C folder holds test images only)
    val = Evaluator(cfg.evaluation_spec(), tmp_path / "cache")
    assert len(val.corrupted["fog"]) == 5 * len(val.dataset.y_test)
    assert len(val.dataset.y_test) != 30
