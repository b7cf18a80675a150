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
    """One objective: what it means and where its function is.

    Args:
        name: The name used in study files, reports and trial records.
        default_direction: ``"maximize"`` or ``"minimize"``.
        bounds: Values mapped to 0 and 1 when the hypervolume is normalized.
        unit: Unit and meaning, shown in reports and model cards.
        kind: Group in reports (quality, size, robustness, adversarial, proxy, cost).
        tasks: The tasks whose studies can measure it.
        target: ``"module:function"``; the function takes the model's measurements and
            returns an :class:`~moo_compress.objectives.base.ObjectiveResult`.
        in_record_all: Measured by studies whose ``record`` is ``all`` (the default). An
            objective added later says False: ``record`` is part of a study's settings, so
            widening ``all`` would stop every existing study from resuming; studies measure
            it by listing it (under ``objectives`` or ``record``).
    """

    name: str
    default_direction: str
    bounds: tuple[float, float]
    unit: str
    kind: str = "quality"
    tasks: tuple[str, ...] = CLASSIFICATION
    target: str = ""  # "module:function" computing it from a Measurements object
    in_record_all: bool = True


# The one table of objectives: adding one = a new module with its function, and one line
# here (name, direction, normalisation bounds, unit, kind, tasks, "module:function").
_INFO = [
    ObjectiveInfo(
        "accuracy",
        "maximize",
        (0.0, 100.0),
        "% top-1, clean images",
        "quality",
        CLASSIFICATION,
        target="moo_compress.objectives.accuracy:accuracy",
    ),
    ObjectiveInfo(
        "cr",
        "maximize",
        (1.0, 50.0),
        "x, DEFLATE size of baseline / model artifact",
        "size",
        BOTH,
        target="moo_compress.objectives.cr:compression_ratio",
    ),
    ObjectiveInfo(
        "mce",
        "minimize",
        (0.0, 200.0),
        "mean corruption error, reference = 100",
        "robustness",
        CLASSIFICATION,
        target="moo_compress.objectives.robustness:mean_corruption_error",
    ),
    ObjectiveInfo(
        "relative_mce",
        "minimize",
        (0.0, 200.0),
        "relative mCE, reference = 100",
        "robustness",
        CLASSIFICATION,
        target="moo_compress.objectives.robustness:relative_mean_corruption_error",
    ),
    ObjectiveInfo(
        "corruption_accuracy",
        "maximize",
        (0.0, 100.0),
        "% mean over corruptions and severities",
        "robustness",
        CLASSIFICATION,
        target="moo_compress.objectives.robustness:mean_corruption_accuracy",
    ),
    ObjectiveInfo(
        "robustness_ratio",
        "maximize",
        (0.0, 1.2),
        "corrupted / clean accuracy",
        "robustness",
        CLASSIFICATION,
        target="moo_compress.objectives.robustness:robustness_ratio",
    ),
    ObjectiveInfo(
        "fgsm_accuracy",
        "maximize",
        (0.0, 100.0),
        "% accuracy under FGSM",
        "adversarial",
        CLASSIFICATION,
        target="moo_compress.objectives.adversarial:fgsm_accuracy",
    ),
    ObjectiveInfo(
        "pgd_accuracy",
        "maximize",
        (0.0, 100.0),
        "% accuracy under PGD",
        "adversarial",
        CLASSIFICATION,
        target="moo_compress.objectives.adversarial:pgd_accuracy",
    ),
    ObjectiveInfo(
        "robust_instances",
        "maximize",
        (0.0, 100.0),
        "% with g(x_adv) = g(x) = y (FGSM)",
        "adversarial",
        CLASSIFICATION,
        target="moo_compress.objectives.adversarial:robust_instances",
    ),
    ObjectiveInfo(
        "proxy_acc",
        "maximize",
        (0.0, 1.5),
        "k-means cluster accuracy / accuracy",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_acc",
    ),
    ObjectiveInfo(
        "proxy_purity",
        "maximize",
        (0.0, 1.5),
        "k-means purity / accuracy",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_purity",
    ),
    ObjectiveInfo(
        "proxy_multicut",
        "maximize",
        (0.0, 1.5),
        "multicut purity / accuracy",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_multicut",
    ),
    ObjectiveInfo(
        "proxy_combined",
        "maximize",
        (0.0, 1.5),
        "k-means x multicut purity / accuracy",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_combined",
    ),
    ObjectiveInfo(
        "proxy_delta",
        "minimize",
        (-50.0, 50.0),
        "class-distance overlap Delta",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_delta",
    ),
    ObjectiveInfo(
        "proxy_corrupted_acc",
        "maximize",
        (0.0, 100.0),
        "% k-means purity of the features (= proxy_purity x accuracy); predicts corrupted accuracy",
        "proxy",
        CLASSIFICATION,
        target="moo_compress.objectives.proxy:proxy_corrupted_acc",
        in_record_all=False,
    ),
    ObjectiveInfo(
        "latency_ms",
        "minimize",
        (0.0, 20.0),
        "ms per forward pass (min of block medians; batch 1 unless set)",
        "cost",
        BOTH,
        target="moo_compress.objectives.latency:latency",
    ),
    ObjectiveInfo(
        "map",
        "maximize",
        (0.0, 100.0),
        "% COCO mAP@[.50:.95]",
        "quality",
        DETECTION,
        target="moo_compress.objectives.detection:coco_map",
    ),
    ObjectiveInfo(
        "ap50",
        "maximize",
        (0.0, 100.0),
        "% COCO AP at IoU .50",
        "quality",
        DETECTION,
        target="moo_compress.objectives.detection:coco_ap50",
    ),
    ObjectiveInfo(
        "map_corrupted",
        "maximize",
        (0.0, 100.0),
        "% mAP, mean over corruptions and severities",
        "robustness",
        DETECTION,
        target="moo_compress.objectives.detection:corrupted_map",
    ),
    ObjectiveInfo(
        "map_pgd",
        "maximize",
        (0.0, 100.0),
        "% mAP under PGD",
        "adversarial",
        DETECTION,
        target="moo_compress.objectives.detection:pgd_map",
    ),
]
OBJECTIVE_INFO: dict[str, ObjectiveInfo] = {o.name: o for o in _INFO}
OBJECTIVES = Registry("objective", {o.name: o.target for o in _INFO})

ROBUSTNESS_TARGETS = ("corruption_accuracy", "robustness_ratio", "mce")
PROXIES = (
    "proxy_acc",
    "proxy_purity",
    "proxy_multicut",
    "proxy_combined",
    "proxy_delta",
    "proxy_corrupted_acc",
)


def task_objectives(task: str) -> list[str]:
    """Names of the objectives a task's studies can measure, in table order.

    Args:
        task: ``"classification"`` or ``"detection"``.
    """
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
