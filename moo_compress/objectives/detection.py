"""Detection objectives: COCO mAP (pycocotools COCOeval) clean, under corruptions and under
PGD on the detection loss. Values are in percent, like accuracy."""

from __future__ import annotations

import numpy as np

from moo_compress.objectives.base import ObjectiveResult


def coco_map(m) -> ObjectiveResult:
    """mAP@[.50:.95] on the clean test split."""
    return ObjectiveResult(100.0 * m.clean["map"], {"ap50": 100.0 * m.clean["ap50"]})


def coco_ap50(m) -> ObjectiveResult:
    return ObjectiveResult(100.0 * m.clean["ap50"])


def corrupted_map(m) -> ObjectiveResult:
    """Mean mAP over the study's corruptions and severities."""
    maps = m.corrupted_maps
    per = {k: [100.0 * v for v in vals] for k, vals in maps.items()}
    return ObjectiveResult(
        float(np.mean([v for vals in per.values() for v in vals])),
        {"map_per_corruption": per, "severities": list(m.severities)},
    )


def pgd_map(m) -> ObjectiveResult:
    """mAP on test images attacked by PGD on the detector's training loss."""
    got = m.pgd
    return ObjectiveResult(
        100.0 * got["map"], {"ap50": 100.0 * got["ap50"], "attack": dict(m.adversarial)}
    )
