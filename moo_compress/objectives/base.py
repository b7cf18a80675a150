"""What every objective receives and returns.

An objective is a function ``(m: Measurements) -> ObjectiveResult``. :class:`Measurements`
states what it may read of the model being measured; an evaluator hands it an implementation
(:class:`moo_compress.evaluation.measurements.ModelMeasurements`, or detection's subclass
with ``clean``, ``corrupted_maps`` and ``pgd``), computing each measurement once, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from moo_compress.evaluation.results import Reference

__all__ = ["Measurements", "ObjectiveResult", "UndefinedObjective"]


class Measurements(Protocol):
    """What an objective reads of one model's measurements.

    Attributes:
        model: The model loaded back from its packed artifact.
        artifact_bytes: The packed model's size in bytes.
        artifact_deflate_bytes: Its DEFLATE size (CR's denominator).
        reference: What the model is compared against (baseline accuracy and size, the
            robustness reference's errors).
        num_classes: Classes of the task.
        x_test: The evaluation images.
        y_test: Their labels.
        n_test: Their number.
        seed: The study seed.
        severities: The corruption severities measured, in order.
        adversarial: The ``adversarial`` settings (``eps``, ``step``, ``steps``,
            ``random_start``, ``n_images``).
        latency: The ``latency`` settings.
        attacks_done: Attacks run so far, by kind (see :meth:`attack`).
    """

    model: nn.Module
    artifact_bytes: int
    reference: Reference
    num_classes: int
    x_test: Any
    y_test: np.ndarray
    n_test: int
    seed: int
    severities: list[int]
    adversarial: dict[str, Any]
    latency: dict[str, Any]
    attacks_done: dict[str, tuple]

    @property
    def artifact_deflate_bytes(self) -> int:
        """DEFLATE size of the packed model."""

    @property
    def features(self) -> torch.Tensor:
        """Penultimate features of the clean evaluation images, one row per image."""

    @property
    def clean_accuracy(self) -> float:
        """Top-1 accuracy on the clean evaluation images (a fraction)."""

    @property
    def corruption_errors(self) -> dict[str, list[float]]:
        """Top-1 error per corruption and severity."""

    @property
    def clustering(self) -> dict[str, float]:
        """The clustering measures of the features (seed 003's proxy)."""

    def attack(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clean predictions, adversarial predictions, labels) on the attacked images.

        Args:
            kind: ``"fgsm"`` or ``"pgd"``.
        """


@dataclass
class ObjectiveResult:
    """An objective's value and the details stored with the trial (e.g. per-corruption CE).

    Args:
        value: The objective's value, in the unit of its ``ObjectiveInfo``.
        details: JSON-serialisable facts stored with the trial's result (default: empty).
    """

    value: float
    details: dict[str, Any] = field(default_factory=dict)


class UndefinedObjective(ValueError):
    """The objective has no value for this model (for example relative mCE when the
    reference makes no more error on any corruption than on clean images). The trial stores
    the reason instead of a value; it fails only if the study optimizes that objective."""
