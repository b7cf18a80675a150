"""Evaluation: baseline -> technique chain -> packed artifact -> objectives, per task.

An evaluator is prepared once per process (data, cached baseline, cached corrupted sets, the
reference errors) and then evaluates one configuration at a time; every objective is
measured on the model loaded back from its packed artifact. Each task's evaluator is one
module found in :data:`EVALUATORS`:

- ``classification``: :class:`~moo_compress.evaluation.base.Evaluator`;
- ``detection``: :class:`~moo_compress.evaluation.detection.DetectionEvaluator`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moo_compress._utils.io import atomic_write
from moo_compress._utils.registry import Registry
from moo_compress.evaluation.base import BASELINE_VERSION, Evaluator
from moo_compress.evaluation.measurements import Measurements
from moo_compress.evaluation.results import Reference, TrialResult, trial_seed
from moo_compress.settings import EvaluationSpec

EVALUATORS = Registry(
    "evaluator",
    {
        "classification": "moo_compress.evaluation.base:Evaluator",
        "detection": "moo_compress.evaluation.detection:DetectionEvaluator",
    },
)


def make_evaluator(spec: EvaluationSpec | dict[str, Any], cache_dir: Path, **kwargs) -> Evaluator:
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
    "Evaluator",
    "Measurements",
    "Reference",
    "TrialResult",
    "atomic_write",
    "make_evaluator",
    "trial_seed",
]
