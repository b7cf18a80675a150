"""Clean top-1 accuracy on the test split, in percent."""

from __future__ import annotations

from moo_compress.objectives.base import Measurements, ObjectiveResult

__all__ = ["accuracy"]


def accuracy(m: Measurements) -> ObjectiveResult:
    """Top-1 accuracy (%) on the clean images of the evaluated split.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``clean_accuracy``).
    """
    return ObjectiveResult(100.0 * m.clean_accuracy)
