"""Validated configuration: the study file and the search space it points to."""

from __future__ import annotations

from moo_compress.config._study import (
    DatasetConfig,
    ObjectiveSpec,
    StudyConfig,
    TrainConfig,
    load_study_config,
)

__all__ = ["DatasetConfig", "ObjectiveSpec", "StudyConfig", "TrainConfig", "load_study_config"]
