"""Every setting of a study, with its default, stated once, and the typed YAML reader.

This package is the lowest layer above the floor: it imports no registry and no technique,
so every module of the engine can receive a typed setting (``TrainConfig``,
``EvaluationSpec``, ...) without depending on the study-file loader. The loader, which reads
a study file against the plugins' tables, is :func:`moo_compress.config.load_study_config`.

- :mod:`moo_compress.settings.reader`: :func:`~moo_compress.settings.reader.load_yaml` and
  :class:`~moo_compress.settings.reader.Section`, typed reads whose errors name the file,
  the key path, the allowed values and the bad value.
- :mod:`moo_compress.settings.constraints`: the ``constraints`` section's bounds.
"""

from __future__ import annotations

from moo_compress.settings._types import (
    BASELINE_TRAINING,
    DIRECTIONS,
    FINETUNING,
    MAX_NAME_CHARS,
    MAX_SEED,
    NO_TRIAL_LIMIT,
    OPTIMIZERS,
    AdversarialConfig,
    DatasetConfig,
    DetectionConfig,
    EvaluationSpec,
    LatencyConfig,
    ObjectiveSpec,
    ProxyConfig,
    StudyConfig,
    TrainConfig,
    UserModelConfig,
    WorkersConfig,
    default_max_failures,
    setting,
)
from moo_compress.settings.constraints import Constraint

__all__ = [
    "BASELINE_TRAINING",
    "FINETUNING",
    "DIRECTIONS",
    "MAX_NAME_CHARS",
    "MAX_SEED",
    "OPTIMIZERS",
    "NO_TRIAL_LIMIT",
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
    "UserModelConfig",
    "WorkersConfig",
    "default_max_failures",
    "setting",
]
