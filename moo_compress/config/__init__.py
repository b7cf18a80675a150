"""The study-file loader: reads a study file and the search space it points to against the
plugins' tables (datasets, models, corruptions, objectives, drivers) and returns a
:class:`~moo_compress.settings.StudyConfig`.

The settings themselves, each with its default stated once, live one layer below in
:mod:`moo_compress.settings` (which imports no plugin); they are re-exported here so that
``from moo_compress.config import TrainConfig`` keeps working.
"""

from __future__ import annotations

from moo_compress.config._study import load_study_config
from moo_compress.settings import (
    AdversarialConfig,
    Constraint,
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
