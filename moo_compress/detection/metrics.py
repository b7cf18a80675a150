"""COCO mAP: detections after a confidence filter and non-maximum suppression, scored by
pycocotools' COCOeval.

A detection is ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` in the
original image's pixels, exactly what COCOeval's ``loadRes`` reads.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any


def postprocess(
    boxes,
    scores,
    labels,
    *,
    image_id: int,
    scale: tuple[float, float],
    category_ids,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int = 100,
) -> list[dict[str, Any]]:
    """One image's candidates (x1, y1, x2, y2 in input pixels, score, class index) to COCO
    detections: drop scores below ``score_threshold``, class-wise NMS (torchvision.ops),
    keep the ``max_detections`` best, rescale to the original image.

    Args:
        boxes: Candidate boxes (K, 4), x1, y1, x2, y2 in input pixels.
        scores: Their confidences (K,).
        labels: Their class indices (K,).
        image_id: The COCO id of the image.
        scale: ``(sx, sy)``, original pixels per input pixel.
        category_ids: COCO category id of each class index.
        score_threshold: Candidates scoring below this are dropped.
        iou_threshold: NMS overlap above which the lower-scoring box of a class is dropped.
        max_detections: At most this many detections (default 100).
    """
    import torch
    from torchvision.ops import batched_nms

    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    keep = scores >= score_threshold
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    order = batched_nms(boxes, scores, labels, iou_threshold)[:max_detections]
    sx, sy = float(scale[0]), float(scale[1])
    out = []
    for i in order.tolist():
        x1, y1, x2, y2 = boxes[i].tolist()
        out.append(
            {
                "image_id": int(image_id),
                "category_id": int(category_ids[int(labels[i])]),
                "bbox": [x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy],
                "score": float(scores[i]),
            }
        )
    return out


def coco_map(coco_gt, detections: list[dict[str, Any]], image_ids=None) -> dict[str, float]:
    """``{"map": AP@[.50:.95], "ap50": AP@.50}`` of ``detections`` against ``coco_gt``
    (a pycocotools ``COCO``), over ``image_ids`` (default: all its images).

    No detection at all scores 0 (COCOeval cannot load an empty result list).

    Args:
        coco_gt: The ground truth, a pycocotools ``COCO``.
        detections: COCO detections (see :func:`postprocess`).
        image_ids: The images to score (default None: all of ``coco_gt``'s).
    """
    from pycocotools.cocoeval import COCOeval

    ids = sorted(coco_gt.getImgIds()) if image_ids is None else [int(i) for i in image_ids]
    if not detections:
        return {"map": 0.0, "ap50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # COCOeval reports -1 when no ground truth exists for the averaged area range
    return {"map": max(0.0, float(ev.stats[0])), "ap50": max(0.0, float(ev.stats[1]))}


__all__ = ["coco_map", "postprocess"]
