"""Objectives, found by name. A study measures and stores every objective of ``record``
(default: all) for every trial, and optimizes the ones it lists under ``objectives``.

``bounds`` are the values mapped to 0 and 1 when the archive's hypervolume is normalized
(a study may override them). ``kind`` groups objectives in reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from moo_compress._utils.registry import Registry

CLASSIFICATION, DETECTION = ("classification",), ("detection",)
BOTH = ("classification", "detection")
TASKS = BOTH


@dataclass(frozen=True)
class ObjectiveInfo:
    name: str
    default_direction: str
    bounds: tuple[float, float]
    unit: str
    kind: str = "quality"
    tasks: tuple[str, ...] = CLASSIFICATION


_INFO = [
    ObjectiveInfo("accuracy", "maximize", (0.0, 100.0), "% top-1, clean images"),
    ObjectiveInfo(
        "cr",
        "maximize",
        (1.0, 50.0),
        "x, DEFLATE size of baseline / model artifact",
        "size",
        BOTH,
    ),
    ObjectiveInfo(
        "mce", "minimize", (0.0, 200.0), "mean corruption error, reference = 100", "robustness"
    ),
    ObjectiveInfo(
        "relative_mce", "minimize", (0.0, 200.0), "relative mCE, reference = 100", "robustness"
    ),
    ObjectiveInfo(
        "corruption_accuracy",
        "maximize",
        (0.0, 100.0),
        "% mean over corruptions and severities",
        "robustness",
    ),
    ObjectiveInfo(
        "robustness_ratio", "maximize", (0.0, 1.2), "corrupted / clean accuracy", "robustness"
    ),
    ObjectiveInfo(
        "fgsm_accuracy", "maximize", (0.0, 100.0), "% accuracy under FGSM", "adversarial"
    ),
    ObjectiveInfo("pgd_accuracy", "maximize", (0.0, 100.0), "% accuracy under PGD", "adversarial"),
    ObjectiveInfo(
        "robust_instances",
        "maximize",
        (0.0, 100.0),
        "% with g(x_adv) = g(x) = y (FGSM)",
        "adversarial",
    ),
    ObjectiveInfo(
        "proxy_acc", "maximize", (0.0, 1.5), "k-means cluster accuracy / accuracy", "proxy"
    ),
    ObjectiveInfo("proxy_purity", "maximize", (0.0, 1.5), "k-means purity / accuracy", "proxy"),
    ObjectiveInfo("proxy_multicut", "maximize", (0.0, 1.5), "multicut purity / accuracy", "proxy"),
    ObjectiveInfo(
        "proxy_combined", "maximize", (0.0, 1.5), "k-means x multicut purity / accuracy", "proxy"
    ),
    ObjectiveInfo(
        "proxy_delta", "minimize", (-50.0, 50.0), "class-distance overlap Delta", "proxy"
    ),
    ObjectiveInfo(
        "latency_ms",
        "minimize",
        (0.0, 20.0),
        "ms per forward pass (median; batch 1 unless set)",
        "cost",
        BOTH,
    ),
    ObjectiveInfo("map", "maximize", (0.0, 100.0), "% COCO mAP@[.50:.95]", "quality", DETECTION),
    ObjectiveInfo("ap50", "maximize", (0.0, 100.0), "% COCO AP at IoU .50", "quality", DETECTION),
    ObjectiveInfo(
        "map_corrupted",
        "maximize",
        (0.0, 100.0),
        "% mAP, mean over corruptions and severities",
        "robustness",
        DETECTION,
    ),
    ObjectiveInfo("map_pgd", "maximize", (0.0, 100.0), "% mAP under PGD", "adversarial", DETECTION),
]
OBJECTIVE_INFO: dict[str, ObjectiveInfo] = {o.name: o for o in _INFO}

OBJECTIVES = Registry(
    "objective",
    {
        "accuracy": "moo_compress.objectives.accuracy:accuracy",
        "cr": "moo_compress.objectives.cr:compression_ratio",
        "mce": "moo_compress.objectives.robustness:mean_corruption_error",
        "relative_mce": "moo_compress.objectives.robustness:relative_mean_corruption_error",
        "corruption_accuracy": "moo_compress.objectives.robustness:mean_corruption_accuracy",
        "robustness_ratio": "moo_compress.objectives.robustness:robustness_ratio",
        "fgsm_accuracy": "moo_compress.objectives.adversarial:fgsm_accuracy",
        "pgd_accuracy": "moo_compress.objectives.adversarial:pgd_accuracy",
        "robust_instances": "moo_compress.objectives.adversarial:robust_instances",
        "proxy_acc": "moo_compress.objectives.proxy:proxy_acc",
        "proxy_purity": "moo_compress.objectives.proxy:proxy_purity",
        "proxy_multicut": "moo_compress.objectives.proxy:proxy_multicut",
        "proxy_combined": "moo_compress.objectives.proxy:proxy_combined",
        "proxy_delta": "moo_compress.objectives.proxy:proxy_delta",
        "latency_ms": "moo_compress.objectives.latency:latency",
        "map": "moo_compress.objectives.detection:coco_map",
        "ap50": "moo_compress.objectives.detection:coco_ap50",
        "map_corrupted": "moo_compress.objectives.detection:corrupted_map",
        "map_pgd": "moo_compress.objectives.detection:pgd_map",
    },
)

ROBUSTNESS_TARGETS = ("robustness_ratio", "mce")
PROXIES = ("proxy_acc", "proxy_purity", "proxy_multicut", "proxy_combined", "proxy_delta")


def task_objectives(task: str) -> list[str]:
    """Names of the objectives a task's studies can measure."""
    return [o.name for o in _INFO if task in o.tasks]


__all__ = [
    "TASKS",
    "task_objectives",
    "OBJECTIVES",
    "OBJECTIVE_INFO",
    "PROXIES",
    "ROBUSTNESS_TARGETS",
    "ObjectiveInfo",
]
