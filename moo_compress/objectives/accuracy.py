"""Clean top-1 accuracy on the test split, in percent."""

from __future__ import annotations

from moo_compress.objectives.base import ObjectiveResult


def accuracy(m) -> ObjectiveResult:
    """Args: m: :class:`moo_compress.evaluation.Measurements` of the model."""
    return ObjectiveResult(100.0 * m.clean_accuracy)
