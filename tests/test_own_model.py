"""Compress your own model from a study file: digits written as a 64x64 RGB ImageFolder of
PNG files, a torchvision ResNet-18 trained here for a moment and saved as safetensors, then
``search``, ``pareto``, ``export`` and ``evaluate`` through the CLI; a user's own module by
its builder; and the refusals (a weights file that would run code, keys that do not fit,
labels outside the model's classes, a model without a Linear layer)."""

from __future__ import annotations

import json
import os
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli

SIZE = 64
PER_CLASS = {"train": 20, "test": 8}
SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.6, step: 0.3}
  prune_granularity: {type: categorical, choices: [unstructured, filter]}
  quant_bits: {type: categorical, choices: [8, 32]}
  finetune_epochs: 0
"""


def write_imagefolder(root: Path, size: int = SIZE) -> None:
    """A few digits per class, upsampled to ``size`` and written as PNG files in the
    ImageFolder layout ``root/<split>/digit<k>/<n>.png``."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        keep = np.concatenate([np.flatnonzero(y == k)[: PER_CLASS[split]] for k in range(10)])
        t = torch.from_numpy(x[keep]).permute(0, 3, 1, 2).float()
        up = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        up = up.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        for i, (img, label) in enumerate(zip(up, y[keep], strict=True)):
            folder = root / split / f"digit{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:04d}.png")


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """The folder, and a ResNet-18 trained on it for one epoch, saved as safetensors."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from moo_compress.data.imagefolder import load_imagefolder
    from moo_compress.models.user import UserModel
    from moo_compress.settings import TrainConfig
    from moo_compress.training import train

    root = tmp_path_factory.mktemp("own")
    write_imagefolder(root / "data")
    ds = load_imagefolder(seed=0, root=str(root / "data"), image_size=SIZE)
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, momentum=0.9, weight_decay=5e-4)
    train(
        UserModel(net, mean=[0.5] * 3, std=[0.25] * 3),
        ds.x_train,
        ds.y_train,
        cfg,
        epochs=1,
        seed=0,
    )
    save_file(net.state_dict(), str(root / "resnet18.safetensors"))
    (root / "space.yaml").write_text(SPACE)
    return root


def _study(root: Path, name: str, model: str, n_trials: int = 3) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            study: {{name: {name}, seed: 0}}
            dataset: {{name: imagefolder, root: data, image_size: {SIZE}}}
            model: {model}
            search_space: space.yaml
            objectives: [accuracy, cr, mce]
            record: [accuracy, cr, mce]
            driver: {{name: optuna-random}}
            budget: {{n_trials: {n_trials}}}
            corruptions: {{names: [contrast], severities: [3]}}
            """
        )
    )
    return path


TORCHVISION = (
    "{torchvision: resnet18, num_classes: 10, weights: resnet18.safetensors, "
    "mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}"
)


def test_a_torchvision_model_is_searched_exported_and_reevaluated(own):
    study = _study(own, "tv", TORCHVISION)
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "reading your trained model (the baseline, not retrained)" in res.stderr
    assert "note: no published corruption set" not in res.stderr  # 64x64: Tiny-ImageNet-C's
    status = cli("status", str(study)).stdout
    assert "corruptions tinyimagenet parameters (Tiny-ImageNet-C's, made for 64x64" in status
    rows = json.loads(cli("pareto", str(study), "--all", "--format", "json").stdout)
    assert len(rows) == 3 and {r["arch"] for r in rows} == {"torchvision:resnet18"}
    unpruned = [r for r in rows if r["prune_ratio"] == 0.0 and r["quant_bits"] == 32]
    for r in unpruned:  # the user's model itself: CR 1 and mCE 100 against itself
        assert r["cr"] == pytest.approx(1.0, abs=0.02) and r["mce"] == pytest.approx(100.0)

    out = own / "exported"
    res = cli("export", str(study), "--out", str(out))
    assert res.returncode == 0, res.stderr
    model = sorted(p for p in out.iterdir() if p.is_dir())[0]
    assert {"model.mcz", "model.onnx"} <= {p.name for p in model.iterdir()}
    res = cli("evaluate", str(model), "--format", "json", "--data-root", str(own / "data"))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for name in ("accuracy", "cr", "mce"):
        assert report["measured"][name] == report["recorded"][name], name


def test_a_users_own_module_is_searched_through_its_builder(own):
    import torch

    from tests.models.userpkg.nets import build

    torch.manual_seed(0)
    torch.save(build(num_classes=10).state_dict(), own / "own.pt")
    model = "{builder: 'tests.models.userpkg.nets:build', num_classes: 10, weights: own.pt}"
    res = cli("search", str(_study(own, "builder", model, n_trials=2)), "--no-progress")
    assert res.returncode == 0, res.stderr
    rows = json.loads(cli("pareto", str(own / "builder.yaml"), "--all", "--format", "json").stdout)
    assert {r["arch"] for r in rows} == {"builder:tests.models.userpkg.nets:build"}
    # an exported model re-evaluates only when the caller names the builder to import
    out = own / "builder-export"
    res = cli("export", str(own / "builder.yaml"), "--out", str(out), "--select", "cr>=1")
    assert res.returncode == 0, res.stderr
    model = sorted(p for p in out.iterdir() if p.is_dir())[0]
    args = ("evaluate", str(model), "--format", "json", "--data-root", str(own / "data"))
    res = cli(*args)
    assert res.returncode == 2 and "--trust-builder: must name the builder" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli(*args, "--trust-builder", "tests.models.userpkg.nets:build")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for name in ("accuracy", "cr", "mce"):
        assert report["measured"][name] == report["recorded"][name], name


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _refused(root: Path, name: str, model: str) -> str:
    res = cli("search", str(_study(root, name, model)), "--no-progress")
    assert res.returncode == 2, res.stderr
    assert not (root / f"{name}.db").exists()
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("note:")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_what_cannot_be_used_is_refused_in_one_line_and_nothing_is_written(own):
    marker = own / "ran"
    with open(own / "evil.pt", "wb") as f:
        pickle.dump({"fc.weight": np.zeros(2), "x": _RunsCode(str(marker))}, f)
    err = _refused(own, "evil", "{torchvision: resnet18, num_classes: 10, weights: evil.pt}")
    assert "refused: loading it would run code (it names io.open)" in err
    assert not marker.exists()

    err = _refused(
        own, "other", "{torchvision: resnet34, num_classes: 10, weights: resnet18.safetensors}"
    )
    assert "the weights do not fit the model; missing keys: layer1.2." in err

    err = _refused(
        own, "few", "{torchvision: resnet18, num_classes: 5, weights: resnet18.safetensors}"
    )
    assert "shapes differ (file vs model): fc.weight (10, 512) vs (5, 512)" in err

    import torch

    from tests.models.userpkg.nets import NoLinear

    torch.save(NoLinear().state_dict(), own / "nolinear.pt")
    err = _refused(
        own, "nolinear", "{builder: 'tests.models.userpkg.nets:NoLinear', weights: nolinear.pt}"
    )
    assert "nolinear.yaml: model.features_layer: NoLinear has no Linear layer" in err

    err = _refused(own, "missing", "{torchvision: resnet18, weights: nowhere.safetensors}")
    assert "model.weights: must name the model's weights file" in err


PG = os.environ.get("MOO_COMPRESS_TEST_POSTGRES")


@pytest.mark.skipif(not PG, reason="MOO_COMPRESS_TEST_POSTGRES is not set (.ci/run sets it)")
def test_two_workers_search_a_builder_model_on_postgresql(own):
    """The study file's builder form is what scales out: every worker imports the builder."""
    import uuid

    import optuna
    import torch

    from tests.models.userpkg.nets import build
    from tests.test_workers import _start_worker

    torch.manual_seed(0)
    torch.save(build(num_classes=10).state_dict(), own / "own.pt")
    name = f"own{uuid.uuid4().hex[:8]}"
    model = "{builder: 'tests.models.userpkg.nets:build', num_classes: 10, weights: own.pt}"
    study = _study(own, name, model, n_trials=4)
    workers = [_start_worker(study, f"w{i}") for i in range(2)]  # on PostgreSQL
    outs = [w.communicate(timeout=600) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1] for o in outs]
    trials = optuna.load_study(study_name=name, storage=PG).get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 4
    keys = [t.user_attrs["config_key"] for t in done]
    assert len(set(keys)) == 4  # no configuration evaluated twice
    assert {t.user_attrs.get("worker") for t in done} <= {"w0", "w1"}


@pytest.mark.skipif(not PG, reason="MOO_COMPRESS_TEST_POSTGRES is not set (.ci/run sets it)")
def test_a_worker_cannot_rebuild_a_model_passed_as_an_object_and_says_so(own, tmp_path):
    import uuid

    import moo_compress as mc
    from tests.models.userpkg.nets import build

    name = f"obj{uuid.uuid4().hex[:8]}"
    data = {"name": "imagefolder", "root": str(own / "data"), "image_size": SIZE}
    mc.create_study(
        name=name,
        model=build(num_classes=10),
        data=data,
        space={"variables": {"quant_bits": {"type": "categorical", "choices": [8, 32]}}},
        objectives=["accuracy", "cr"],
        record=["accuracy", "cr"],
        storage=PG,
        directory=tmp_path / "obj.moo",
        corruptions={"names": ["contrast"], "severities": [3]},
    )
    res = cli("worker", str(tmp_path / "obj.moo" / "study.yaml"), "--storage", PG)
    assert res.returncode == 2, res.stderr
    err = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("error")]
    assert len(err) == 1 and "passed to create_study as a Python object" in err[0]
    assert "'builder': 'package.module:callable'" in err[0]


def test_a_224_study_measures_mce_with_imagenet_c_parameters(tmp_path):
    """A small ImageFolder at 224x224: ``auto`` picks ImageNet-C's parameters, and with
    ``cache_gb: 0`` the corrupted images are made on the fly, never written."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    write_imagefolder(tmp_path / "data", size=224)
    torch.manual_seed(0)
    save_file(torchvision.models.resnet18(num_classes=10).state_dict(), str(tmp_path / "r.st"))
    (tmp_path / "space.yaml").write_text(SPACE)
    study = _study(tmp_path, "big", "{torchvision: resnet18, num_classes: 10, weights: r.st}", 1)
    study.write_text(
        study.read_text()
        .replace(f"image_size: {SIZE}", "image_size: 224")
        .replace("severities: [3]}", "severities: [3], cache_gb: 0}")
    )
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "more than corruptions.cache_gb (0)" in res.stderr
    status = cli("status", str(study)).stdout
    assert "corruptions imagenet parameters (ImageNet-C's, made for 224x224" in status
    rows = json.loads(cli("pareto", str(study), "--all", "--format", "json").stdout)
    assert len(rows) == 1 and np.isfinite(rows[0]["mce"])
    cache = tmp_path / "big.cache"
    assert (cache / "images").is_dir() and not list(cache.rglob("corrupted/*/*.npy"))
