"""Evaluation: baseline -> technique chain -> packed artifact -> objectives, per task.

An evaluator is prepared once per process (data, cached baseline, cached corrupted sets, the
reference errors) and then evaluates one configuration at a time; every objective is
measured on the model loaded back from its packed artifact. Every evaluator implements the
interface of :mod:`moo_compress.evaluation.base` (:class:`BaseEvaluator` for a search,
:class:`ModelEvaluator` for export). Each task's evaluator is one module found in
:data:`EVALUATORS`:

- ``classification``: :class:`~moo_compress.evaluation.classification.ClassificationEvaluator`;
- ``detection``: :class:`~moo_compress.evaluation.detection.DetectionEvaluator`.

``Evaluator`` is the classification evaluator's short name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moo_compress._utils.io import atomic_write
from moo_compress._utils.registry import Registry
from moo_compress.evaluation.base import BaseEvaluator, ModelEvaluator
from moo_compress.evaluation.classification import BASELINE_VERSION, ClassificationEvaluator
from moo_compress.evaluation.measurements import ModelMeasurements
from moo_compress.evaluation.results import Reference, TrialResult, trial_seed
from moo_compress.settings import EvaluationSpec

EVALUATORS = Registry(
    "evaluator",
    {
        "classification": "moo_compress.evaluation.classification:ClassificationEvaluator",
        "detection": "moo_compress.evaluation.detection:DetectionEvaluator",
    },
)


#: The classification evaluator's short name.
Evaluator = ClassificationEvaluator


def make_evaluator(
    spec: EvaluationSpec | dict[str, Any], cache_dir: Path, **kwargs
) -> ModelEvaluator:
    """The evaluator of a study's task.

    Args:
        spec: ``StudyConfig.evaluation_spec()``; its ``task`` names the evaluator.
        cache_dir: Where baselines and corrupted sets are cached.
        kwargs: ``split``, ``reference``, ``log`` for the evaluator's constructor.
    """
    task = spec.task if isinstance(spec, EvaluationSpec) else spec.get("task", "classification")
    return EVALUATORS.get(task)(spec, cache_dir, **kwargs)


__all__ = [
    "BASELINE_VERSION",
    "EVALUATORS",
    "BaseEvaluator",
    "ClassificationEvaluator",
    "Evaluator",
    "ModelEvaluator",
    "ModelMeasurements",
    "Reference",
    "TrialResult",
    "atomic_write",
    "make_evaluator",
    "trial_seed",
]


def __getattr__(name: str) -> Any:
    # the measurements class was exported as Measurements up to 0.1.0 (the name now belongs
    # to the protocol in moo_compress.objectives.base); kept one release
    if name == "Measurements":
        from moo_compress.evaluation import measurements

        return measurements.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
