"""Detection studies end to end: the detector learns, every compression stage applies to it
(physical filter removal through its top-down merge, HYDRA and DeepLIFT on the detection
loss, clustering, QAT, real int8), and a study searches, resumes, exports and re-measures."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import cli

SPACE = """
variables:
  technique: {type: categorical, choices: [original, PQAT + int8, PCQAT]}
  prune_method: {type: categorical, choices: [hydra, deeplift]}
  prune_granularity: filter
  prune_ratio: 0.5
  score_epochs: 1
  finetune_epochs: 1
"""


def _study(folder, cache, *, n_trials=5, space=SPACE, extra=""):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(space)
    text = textwrap.dedent(
        f"""
        study: {{name: det, seed: 1, task: detection}}
        dataset: {{name: shapes, n_train: 96, n_test: 24, image_size: 32}}
        model: {{arch: centernet_lite, width: 0.25}}
        baseline: {{epochs: 3, batch_size: 32, lr: 0.05}}
        finetune: {{batch_size: 32, lr: 0.01}}
        search_space: space.yaml
        objectives:
          - {{name: map, direction: maximize}}
          - {{name: cr, direction: maximize}}
        record: [map, ap50, cr, map_corrupted, map_pgd]
        corruptions: {{names: [gaussian_noise, contrast], severities: [1, 3]}}
        adversarial: {{n_images: 8, steps: 2}}
        driver: {{name: grid}}
        budget: {{n_trials: {n_trials}}}
        cache_dir: {cache}
        """
    )
    path = folder / "study.yaml"
    path.write_text(text + extra)
    return path


def test_the_detector_learns_the_shapes(tmp_path):
    import torch

    from moo_compress.config import TrainConfig
    from moo_compress.detection.data import load_detection_dataset
    from moo_compress.detection.metrics import coco_map, postprocess
    from moo_compress.detection.model import centernet_lite, decode, encode_targets
    from moo_compress.evaluation.detection import DEFAULTS
    from moo_compress.training import predict, train

    ds = load_detection_dataset(
        {"name": "shapes", "options": {"n_train": 200, "n_test": 50}},
        seed=0,
        cache_dir=tmp_path,
        image_size=64,
    )

    def score(model):
        out = predict(model, ds.test.images)
        dets = []
        for (b, s, lab), iid, sc in zip(
            decode(out, ds.num_classes), ds.test.image_ids, ds.test.scales, strict=True
        ):
            dets += postprocess(
                b,
                s,
                lab,
                image_id=iid,
                scale=sc,
                category_ids=ds.category_ids,
                score_threshold=DEFAULTS["score_threshold"],
                iou_threshold=DEFAULTS["nms_iou"],
            )
        return coco_map(ds.test.coco, dets)

    torch.manual_seed(0)
    model = centernet_lite(ds.num_classes, 0.25)
    before = score(model)
    y = encode_targets(ds.train.boxes(), ds.num_classes, 64)
    train(model, ds.train.images, y, TrainConfig(20, 32, 0.05, 0.9, 5e-4), epochs=20, seed=0)
    after = score(model)
    assert before["map"] < 0.01
    assert after["map"] > 0.04 and after["ap50"] > 0.15  # measured: 0.08 and 0.26


@pytest.fixture(scope="module")
def det_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("det")
    study = _study(folder, folder / "cache")
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    return study


def test_every_stage_applies_to_the_detector(det_study):
    out = cli("pareto", str(det_study), "--all", "--format", "json")
    rows = json.loads(out.stdout)
    got = sorted((r["technique"], r["prune_method"]) for r in rows)
    assert got == sorted(
        [
            ("original", "magnitude"),
            ("PQAT + int8", "hydra"),
            ("PQAT + int8", "deeplift"),
            ("PCQAT", "hydra"),
            ("PCQAT", "deeplift"),
        ]
    )
    for r in rows:
        for name in ("map", "ap50", "map_corrupted", "map_pgd"):
            assert 0.0 <= r[name] <= 100.0
        # AP at IoU 0.5 bounds the average over IoU 0.5:0.95; attacks cost mAP
        assert r["ap50"] >= r["map"] and r["map_pgd"] <= r["map"]
        if r["technique"] == "original":  # the baseline itself (learning: test above)
            assert r["cr"] == 1.0 and r["map_corrupted"] <= r["map"]
        assert "accuracy" not in r  # classification objectives are not reported
        if r["technique"] != "original":
            assert r["cr"] > 1.5  # half the filters physically removed
    status = cli("status", str(det_study))
    assert "5/5 complete, 0 failed" in status.stdout


def test_filter_pruned_detector_is_smaller_and_keeps_its_shapes(det_study):
    import torch

    from moo_compress.artifact import decode_model

    cache = det_study.parent / "cache"
    models = [decode_model(p.read_bytes())[0] for p in sorted((cache / "artifacts").glob("*.mcz"))]
    base = decode_model(next((cache / "baselines").glob("*.mcz")).read_bytes())[0]
    n_base = sum(p.numel() for p in base.parameters())
    x = torch.rand(2, 3, 32, 32)
    shapes = {tuple(getattr(m, "float_model", m)(x).shape) for m in models}
    assert shapes == {(2, 4 + 4, 8, 8)}
    smaller = [
        m
        for m in models
        if sum(p.numel() for p in getattr(m, "float_model", m).parameters()) < 0.5 * n_base
    ]
    assert len(smaller) == 4


def test_detection_study_resumes_exports_and_remeasures(det_study, tmp_path):
    again = cli("search", str(det_study), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "5 complete, 0 failed" in again.stdout + again.stderr
    out = tmp_path / "export"
    res = cli("export", str(det_study), "--out", str(out))
    assert res.returncode == 0, res.stderr
    models = sorted(p for p in out.iterdir() if p.is_dir())
    assert models
    for model in models:
        metrics = json.loads((model / "metrics.json").read_text())
        card = (model / "MODEL_CARD.md").read_text()
        assert "mAP under corruptions" in card
        if (model / "model.int8.onnx").exists():
            v = metrics["deployment"]["verification"]["int8"]
            assert v["map"] == v["recorded_map"]
        check = cli("evaluate", str(model), "--format", "json")
        assert check.returncode == 0, check.stderr
        report = json.loads(check.stdout)
        assert report["quality"] == "map" and report["quality_matches"]
        for name in ("map", "ap50", "cr", "map_corrupted", "map_pgd"):
            assert report["measured"][name] == pytest.approx(report["recorded"][name], abs=1e-9)


def test_detection_config_errors_name_the_key(tmp_path):
    study = _study(tmp_path, tmp_path / "cache", extra="")
    text = study.read_text()
    study.write_text(text.replace("{name: map, direction: maximize}", "{name: accuracy}"))
    res = cli("search", str(study), "--no-progress")
    assert res.returncode != 0 and "objectives[0].name" in res.stderr and "map" in res.stderr
    study.write_text(text.replace("arch: centernet_lite", "arch: resnet18"))
    res = cli("search", str(study), "--no-progress")
    assert res.returncode != 0 and "model.arch" in res.stderr and "centernet_lite" in res.stderr
    study.write_text(text.replace("image_size: 32", "image_size: 30"))
    res = cli("search", str(study), "--no-progress")
    assert res.returncode != 0 and "dataset.image_size" in res.stderr
    assert not (tmp_path / "study.db").exists()  # a bad config creates no study
