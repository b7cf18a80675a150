"""Validated configuration: the study file and the search space it points to.

Each setting and its default are stated once, in the dataclasses of ``_settings``; the loader reads the
study file against them and everything downstream receives them (or their ``asdict``).
"""

from __future__ import annotations

from moo_compress.config._constraints import Constraint
from moo_compress.config._settings import (
    AdversarialConfig,
    DatasetConfig,
    DetectionConfig,
    EvaluationSpec,
    LatencyConfig,
    ObjectiveSpec,
    ProxyConfig,
    StudyConfig,
    TrainConfig,
    WorkersConfig,
)
from moo_compress.config._study import load_study_config

__all__ = [
    "AdversarialConfig",
    "Constraint",
    "DatasetConfig",
    "DetectionConfig",
    "EvaluationSpec",
    "LatencyConfig",
    "ObjectiveSpec",
    "ProxyConfig",
    "StudyConfig",
    "TrainConfig",
    "WorkersConfig",
    "load_study_config",
]
