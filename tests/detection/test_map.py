"""The mAP pipeline against pycocotools on hand-made cases with known answers, and the COCO
files the detection datasets are read from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moo_compress.detection.data import (
    generate_shapes,
    load_coco_split,
    quiet_coco,
    shapes_folder,
    write_coco,
)
from moo_compress.detection.metrics import coco_map, postprocess
from moo_compress.errors import DataError

CATS = [{"id": 3, "name": "a"}, {"id": 7, "name": "b"}]


def _gt():
    anns = [
        (1, 3, [10, 10, 20, 20]),
        (1, 7, [40, 5, 15, 30]),
        (2, 3, [0, 0, 30, 30]),
        (2, 3, [35, 35, 25, 20]),
    ]
    return quiet_coco(
        {
            "images": [
                {"id": i, "width": 64, "height": 64, "file_name": f"{i}.png"} for i in (1, 2)
            ],
            "categories": CATS,
            "annotations": [
                {
                    "id": k + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": b,
                    "area": b[2] * b[3],
                    "iscrowd": 0,
                }
                for k, (i, c, b) in enumerate(anns)
            ],
        }
    )


def _perfect(gt):
    return [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": list(a["bbox"]),
            "score": 1.0,
        }
        for a in gt.loadAnns(gt.getAnnIds())
    ]


def test_perfect_detections_score_one():
    gt = _gt()
    assert coco_map(gt, _perfect(gt)) == {"map": 1.0, "ap50": 1.0}


def test_shifted_boxes_lose_the_strict_thresholds():
    gt = _gt()
    # a shift of 20 % of the width gives IoU 0.8 / 1.2 = 2/3: true positives at IoU
    # thresholds .50, .55, .60 and .65 only, so AP@[.50:.95] = 4/10 and AP50 stays 1
    dets = [
        {**d, "bbox": [d["bbox"][0] + 0.2 * d["bbox"][2], *d["bbox"][1:]]} for d in _perfect(gt)
    ]
    got = coco_map(gt, dets)
    assert got["ap50"] == pytest.approx(1.0)
    assert got["map"] == pytest.approx(0.4)
    # shifted by 60 %: IoU 0.25, no threshold is met
    far = [{**d, "bbox": [d["bbox"][0] + 0.6 * d["bbox"][2], *d["bbox"][1:]]} for d in _perfect(gt)]
    assert coco_map(gt, far) == {"map": 0.0, "ap50": 0.0}


def test_missing_detections_and_wrong_classes():
    gt = _gt()
    perfect = _perfect(gt)
    # class "a" loses one of its three objects: recall 2/3 -> 101-point AP = 67/101;
    # class "b" stays perfect; mAP is the mean over the two classes
    partial = [d for d in perfect if not (d["image_id"] == 2 and d["bbox"][0] == 35)]
    expected = (67 / 101 + 1.0) / 2
    assert coco_map(gt, partial)["map"] == pytest.approx(expected)
    wrong = [{**d, "category_id": 10 - d["category_id"]} for d in perfect]  # 3 <-> 7
    assert coco_map(gt, wrong)["map"] == 0.0
    assert coco_map(gt, []) == {"map": 0.0, "ap50": 0.0}


def test_postprocess_filters_suppresses_and_rescales():
    boxes = [[10, 10, 30, 30], [11, 10, 31, 30], [10, 10, 30, 30], [40, 40, 50, 50]]
    scores = [0.9, 0.8, 0.7, 0.01]
    labels = [0, 0, 1, 0]
    dets = postprocess(
        boxes,
        scores,
        labels,
        image_id=5,
        scale=(2.0, 0.5),
        category_ids=(3, 7),
        score_threshold=0.05,
        iou_threshold=0.5,
    )
    # the second box overlaps the first of its class (IoU 0.9) and is suppressed; the same box
    # of the other class stays; the last is below the confidence threshold
    assert [(d["category_id"], d["score"]) for d in dets] == [
        (3, pytest.approx(0.9)),
        (7, pytest.approx(0.7)),
    ]
    assert dets[0]["bbox"] == pytest.approx([20.0, 5.0, 40.0, 10.0])
    assert all(d["image_id"] == 5 for d in dets)


def test_coco_files_round_trip_through_pycocotools(tmp_path):
    images, anns = generate_shapes(6, seed=1, size=64)
    again, anns2 = generate_shapes(6, seed=1, size=64)
    assert (
        all((a == b).all() for a, b in zip(images, again, strict=False)) and anns == anns2
    )  # deterministic
    write_coco(
        tmp_path,
        "val",
        images,
        anns,
        [
            {"id": 1, "name": "circle"},
            {"id": 2, "name": "square"},
            {"id": 3, "name": "triangle"},
            {"id": 4, "name": "digit"},
        ],
    )
    split = load_coco_split(tmp_path, "val", image_size=32)  # resized to half
    assert split.images.shape == (6, 32, 32, 3)
    assert np.allclose(split.scales, 2.0)
    boxes = split.boxes()
    for (xyxy, labels), truth in zip(boxes, anns, strict=False):
        b = np.array([t["bbox"] for t in truth], np.float32)
        assert np.allclose(xyxy[:, :2] * 2, b[:, :2]) and np.allclose(
            (xyxy[:, 2:] - xyxy[:, :2]) * 2, b[:, 2:]
        )
        assert labels.tolist() == [t["category_id"] - 1 for t in truth]
    # perfect detections in the original frame score 1 against the files' ground truth
    doc = json.loads((tmp_path / "annotations" / "instances_val.json").read_text())
    dets = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in doc["annotations"]
    ]
    assert coco_map(split.coco, dets)["map"] == pytest.approx(1.0)


def test_shapes_dataset_is_written_once_and_has_several_objects(tmp_path):
    root = shapes_folder(tmp_path, seed=0, n_train=20, n_test=10, size=64)
    stamp = (root / "annotations" / "instances_train.json").stat().st_mtime_ns
    assert shapes_folder(tmp_path, seed=0, n_train=20, n_test=10, size=64) == root
    assert (root / "annotations" / "instances_train.json").stat().st_mtime_ns == stamp
    gt = quiet_coco(root / "annotations" / "instances_train.json")
    per_image = [len(gt.getAnnIds(imgIds=[i])) for i in gt.getImgIds()]
    assert len(per_image) == 20 and max(per_image) >= 3 and min(per_image) >= 1
    assert {c["name"] for c in gt.loadCats(gt.getCatIds())} == {
        "circle",
        "square",
        "triangle",
        "digit",
    }


def test_bad_coco_folders_are_reported(tmp_path):
    with pytest.raises(DataError, match="instances_train.json: missing"):
        load_coco_split(tmp_path, "train", 32)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "x.png", "width": 8, "height": 8}],
                "annotations": [],
                "categories": CATS,
            }
        )
    )
    with pytest.raises(DataError, match="x.png: missing"):
        load_coco_split(tmp_path, "train", 32)
