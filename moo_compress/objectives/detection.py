"""Detection objectives: COCO mAP (pycocotools COCOeval) clean, under corruptions and under
PGD on the detection loss. Values are in percent, like accuracy."""

from __future__ import annotations

import numpy as np

from moo_compress.objectives.base import ObjectiveResult

__all__ = ["coco_ap50", "coco_map", "corrupted_map", "pgd_map"]


def coco_map(m) -> ObjectiveResult:
    """mAP@[.50:.95] on the clean test split, with AP50 as a detail.

    Args:
        m: The model's :class:`moo_compress.evaluation.detection.DetectionMeasurements`
            (uses ``clean``).
    """
    return ObjectiveResult(100.0 * m.clean["map"], {"ap50": 100.0 * m.clean["ap50"]})


def coco_ap50(m) -> ObjectiveResult:
    """AP at IoU 0.50 on the clean test split.

    Args:
        m: The model's :class:`moo_compress.evaluation.detection.DetectionMeasurements`
            (uses ``clean``).
    """
    return ObjectiveResult(100.0 * m.clean["ap50"])


def corrupted_map(m) -> ObjectiveResult:
    """Mean mAP over the study's corruptions and severities.

    Args:
        m: The model's :class:`moo_compress.evaluation.detection.DetectionMeasurements`
            (uses ``corrupted_maps`` and ``severities``).

    Returns:
        The mean, with the mAP per corruption and severity as details.
    """
    maps = m.corrupted_maps
    per = {k: [100.0 * v for v in vals] for k, vals in maps.items()}
    return ObjectiveResult(
        float(np.mean([v for vals in per.values() for v in vals])),
        {"map_per_corruption": per, "severities": list(m.severities)},
    )


def pgd_map(m) -> ObjectiveResult:
    """mAP on test images attacked by PGD on the detector's training loss.

    Args:
        m: The model's :class:`moo_compress.evaluation.detection.DetectionMeasurements`
            (uses ``pgd`` and the ``adversarial`` settings).

    Returns:
        The mAP, with AP50 and the attack's settings as details.
    """
    got = m.pgd
    return ObjectiveResult(
        100.0 * got["map"], {"ap50": 100.0 * got["ap50"], "attack": dict(m.adversarial)}
    )
