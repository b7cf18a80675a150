"""Deprecated location (kept for one release): use :mod:`moo_compress.evaluation.detection`."""

from moo_compress.evaluation.detection import DEFAULTS, DetectionEvaluator, DetectionMeasurements

__all__ = ["DEFAULTS", "DetectionEvaluator", "DetectionMeasurements"]
