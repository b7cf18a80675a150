"""Deployable export: verified ONNX and int8 files, CR three ways, model cards, --select and
safe loading."""

from __future__ import annotations

import csv
import hashlib
import json
import pickle

import numpy as np
import pytest

from moo_compress.cli import main
from tests.conftest import write_study

INT8_SPACE = """
variables:
  technique: {type: categorical, choices: ['PQAT + int8', 'post-training int8', clustering]}
  quant_bits: 4
  act_bits: {type: categorical, choices: [32, 8]}
  finetune_epochs: 1
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    study = write_study(folder, driver="grid", n_trials=10, cache_dir=folder / "cache")
    (folder / "space.yaml").write_text(INT8_SPACE)
    assert main(["search", str(study), "--no-progress"]) == 0
    out = folder / "export"
    assert main(["export", str(study), "--out", str(out)]) == 0
    return study, out


def _manifest(out):
    with open(out / "manifest.csv", newline="") as fh:
        return {row["model"]: row for row in csv.DictReader(fh)}


def test_every_model_has_verified_onnx_files_and_a_card(exported):
    import onnxruntime as ort

    _, out = exported
    rows = _manifest(out)
    assert rows
    int8_seen = False
    for name, row in rows.items():
        folder = out / name
        metrics = json.loads((folder / "metrics.json").read_text())
        dep = metrics["deployment"]
        assert dep["verification"]["onnx"]["class_agreement"] >= 0.999
        assert set(dep["cr"]) == {"parameter_bits", "deflate", "onnx_file"}
        assert dep["cr"]["deflate"] == metrics["objectives"]["cr"]
        assert all(v > 0 for v in dep["cr"].values())
        assert dep["latency"]["median_ms"] > 0
        for key in ("cr_parameter_bits", "cr_deflate", "cr_onnx_file", "onnx_latency_ms"):
            assert row[key]
        technique = json.loads((folder / "config.json").read_text())["technique"]
        if "int8" in technique:
            int8_seen = True
            assert dep["file"] == "model.int8.onnx"
            v = dep["verification"]["int8"]
            assert v["max_abs_logit_diff"] == 0.0
            assert v["accuracy"] == metrics["test"]["accuracy"]
            session = ort.InferenceSession(
                str(folder / "model.int8.onnx"), providers=["CPUExecutionProvider"]
            )
            x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
            assert session.run(["logits"], {"input": x})[0].shape == (4, 10)
        else:
            assert not (folder / "model.int8.onnx").exists()
        # validation (what the search saw) and test (measured once, at export) side by side
        assert set(metrics["test"]) == set(metrics["objectives"])
        assert float(row["test_accuracy"]) == metrics["test"]["accuracy"]
        assert float(row["accuracy"]) == metrics["objectives"]["accuracy"]
        assert dep["cr"]["deflate"] == metrics["test"]["cr"]  # CR does not depend on the split
        card = (folder / "MODEL_CARD.md").read_text()
        acc = metrics["objectives"]["accuracy"], metrics["test"]["accuracy"]
        assert f"| {acc[0]:.4g} | {acc[1]:.4g} | % top-1" in card
        assert f'ort.InferenceSession("{name}/{dep["file"]}")' in card
        assert "| gaussian_noise |" in card and "rank among the exported front" in card
        for f in folder.iterdir():
            assert row[f"sha256:{f.name}"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert int8_seen


def test_evaluate_refuses_changed_missing_and_unlisted_files(exported, tmp_path, capsys):
    import shutil

    _, out = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    model = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    assert main(["evaluate", str(model)]) == 0
    (model / "notes.txt").write_text("hello")
    assert main(["evaluate", str(model)]) == 2
    assert "notes.txt: not listed in" in capsys.readouterr().err
    (model / "notes.txt").unlink()
    (model / "model.onnx").unlink()
    assert main(["evaluate", str(model)]) == 2
    assert "model.onnx: missing" in capsys.readouterr().err


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_is_never_unpickled(exported, tmp_path, capsys):
    """An attacker replaces model.mcz with a pickle and updates the manifest to match."""
    import shutil

    _, out = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    model = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCode(marker))
    (model / "model.mcz").write_bytes(payload)
    rows = _manifest(copy)
    rows[model.name]["sha256:model.mcz"] = hashlib.sha256(payload).hexdigest()
    with open(copy / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(next(iter(rows.values()))))
        writer.writeheader()
        writer.writerows(rows.values())
    assert main(["evaluate", str(model)]) == 2
    assert "not a moo-compress model file" in capsys.readouterr().err
    assert not marker.exists(), "the pickle was executed"


def test_select_picks_from_the_front_by_constraints(exported, tmp_path, capsys):
    study, out = exported
    all_rows = _manifest(out)
    best_cr = max(float(r["cr"]) for r in all_rows.values())
    sel = tmp_path / "sel"
    assert (
        main(["export", str(study), "--out", str(sel), "--select", f"cr>={best_cr} and accuracy>0"])
        == 0
    )
    rows = _manifest(sel)
    assert len(rows) == 1 and float(next(iter(rows.values()))["cr"]) == best_cr
    assert (
        main(["export", str(study), "--out", str(tmp_path / "x"), "--select", "accuracy>101"]) == 1
    )
    assert "none of the" in capsys.readouterr().err
    assert main(["export", str(study), "--out", str(tmp_path / "y"), "--select", "speed>=3"]) == 2
    err = capsys.readouterr().err
    assert "--select: names an objective the study did not record" in err
    assert main(["export", str(study), "--out", str(tmp_path / "z"), "--select", "cr=>3"]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def test_verification_fails_loudly_on_disagreement():
    import torch

    from moo_compress.errors import MooCompressError
    from moo_compress.export import _compare
    from moo_compress.models.small_cnn import SmallCNN
    from moo_compress.onnx_runtime import OnnxModel, export_onnx
    from moo_compress.training import predict_outputs

    torch.manual_seed(0)
    a, b = SmallCNN(10, width=0.25).eval(), SmallCNN(10, width=0.25).eval()
    x = np.random.default_rng(0).integers(0, 255, (32, 32, 32, 3), dtype=np.uint8)
    onnx_a, a, b = (
        predict_outputs(m, x)[1] for m in (OnnxModel(export_onnx(a, (3, 32, 32), 17)), a, b)
    )
    assert _compare(onnx_a, a, 1e-3, "a")["max_abs_logit_diff"] < 1e-3
    with pytest.raises(MooCompressError, match="ONNX Runtime and PyTorch disagree"):
        _compare(onnx_a, b, 1e-3, "b")


SMALL_SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.5, step: 0.5}
  prune_granularity: unstructured
  cluster_count: 0
  quant_bits: {type: categorical, choices: [8, 32]}
  finetune_epochs: 0
"""


def test_a_study_whose_trials_all_violate_the_constraints_says_so(tmp_path):
    from moo_compress.config import load_study_config
    from moo_compress.errors import MooCompressError
    from moo_compress.export import export_pareto
    from moo_compress.replay import replay
    from tests.test_search_constraints import _table

    extra = "constraints:\n  accuracy: {max_drop: 3.0}\n  cr: '>= 1000'\n"
    path = write_study(tmp_path, driver="grid", n_trials=4, extra=extra)
    (tmp_path / "space.yaml").write_text(SMALL_SPACE)
    cfg = load_study_config(path)
    study = replay(cfg, _table(cfg.space))
    # the table's four models (by hand): accuracy 96 - 12 p^2, cr (1 + 8 p) (32 / bits):
    # (96, 1), (96, 4), (93, 5), (93, 20); the baseline's accuracy is 96
    with pytest.raises(MooCompressError) as err:
        export_pareto(cfg, study, tmp_path / "out")
    assert str(err.value) == (
        "study 'tiny' has 4 completed trials, and every one violates its constraints "
        "(accuracy max_drop 3: met by 4 of 4; cr >= 1000: met by 0 of 4, best cr reached 20 "
        "(short by 980)): relax `constraints` in the study file and search again, or pass "
        "--include-infeasible to export the Pareto-optimal models of all completed trials"
    )
    assert not (tmp_path / "out").exists()
    import optuna

    from moo_compress.export import nothing_to_export

    empty = optuna.create_study(directions=cfg.directions)
    assert nothing_to_export(cfg, empty) == "study 'tiny' has no completed trial to export yet"


def test_include_infeasible_exports_the_front_of_every_completed_trial(exported, tmp_path, capsys):
    folder = tmp_path / "s"
    extra = "constraints:\n  cr: '>= 1000'\n"
    cache = exported[0].parent / "cache"  # the same baseline, already trained
    study = write_study(
        folder, name="never", driver="grid", n_trials=2, cache_dir=cache, extra=extra
    )
    (folder / "space.yaml").write_text(INT8_SPACE)
    assert main(["search", str(study), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export", str(study), "--out", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert (
        "has 2 completed trials, and every one violates its constraints (cr >= 1000: met by 0 of 2"
        in err
    )
    assert "--include-infeasible" in err and not (tmp_path / "none").exists()
    out = tmp_path / "all"
    assert main(["export", str(study), "--out", str(out), "--include-infeasible"]) == 0
    rows = _manifest(out)
    assert rows and all(float(r["violation"]) == 1000 - float(r["cr"]) for r in rows.values())
    assert f"{len(rows)} of them violate the constraints" in capsys.readouterr().out
