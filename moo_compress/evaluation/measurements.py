"""Lazily computed measurements of one model, shared by every objective.

:class:`ModelMeasurements` is what an evaluator hands the objectives: it implements
:class:`moo_compress.objectives.base.Measurements`, the protocol the objectives read, from an
evaluator's data and settings (:class:`EvaluatorView`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from moo_compress.adversarial import attack_predictions
from moo_compress.objectives.proxy import clustering_scores
from moo_compress.training import predict_outputs
from moo_compress.weights.codec import deflate_size, model_bytes

if TYPE_CHECKING:
    import torch
    from torch import nn

    from moo_compress.evaluation.results import Reference

__all__ = ["EvaluatorView", "ModelMeasurements"]


class EvaluatorView(Protocol):
    """What :class:`ModelMeasurements` reads of an evaluator (a
    :class:`~moo_compress.evaluation.classification.ClassificationEvaluator` or a subclass),
    stated here so that this module does not import the evaluator."""

    dataset: Any
    seed: int
    severities: list[int]

    @property
    def reference(self) -> Reference:
        """What objectives compare against, by default."""

    def settings(self, section: str) -> dict[str, Any]:
        """A section of the evaluation spec with its defaults.

        Args:
            section: ``"adversarial"``, ``"latency"`` or ``"proxy"``.
        """

    def corruption_errors(self, model: nn.Module) -> dict[str, list[float]]:
        """Top-1 error per corruption and severity.

        Args:
            model: The model to measure.
        """


class ModelMeasurements:
    """Lazily computed measurements of one model, shared by all objectives (a
    :class:`moo_compress.objectives.base.Measurements`).

    Each objective function receives this object and reads what it needs; every
    measurement is computed once, on first use.

    Args:
        evaluator: The prepared evaluator (data, corrupted sets, settings).
        model: The model loaded back from its packed artifact.
        artifact: The packed model's bytes.
        reference: What objectives compare against (default None: the evaluator's, that of
            the study's architecture).
    """

    def __init__(
        self,
        evaluator: EvaluatorView,
        model: nn.Module,
        artifact: bytes,
        reference: Reference | None = None,
    ) -> None:
        self._ev = evaluator
        self.model = model
        self.artifact_bytes = len(artifact)
        self._artifact = artifact
        self.reference = reference or evaluator.reference
        self.num_classes = evaluator.dataset.num_classes
        self.y_test = evaluator.dataset.y_test
        self.n_test = len(self.y_test)
        self.seed = evaluator.seed
        self.severities = evaluator.severities
        self.adversarial = evaluator.settings("adversarial")
        self.latency = evaluator.settings("latency")
        self.x_test = evaluator.dataset.x_test
        self.attacks_done: dict[str, tuple] = {}

    @functools.cached_property
    def artifact_deflate_bytes(self) -> int:
        """DEFLATE size of the packed model (CR's denominator)."""

        return deflate_size(model_bytes(self._artifact))

    @functools.cached_property
    def outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, logits) of the clean test set, from one forward pass."""

        return predict_outputs(self.model, self._ev.dataset.x_test)

    @property
    def features(self) -> torch.Tensor:
        """Penultimate features of the clean test set, one row per image."""
        return self.outputs[0]

    @functools.cached_property
    def clean_accuracy(self) -> float:
        """Top-1 accuracy on the clean test set (a fraction)."""
        pred = self.outputs[1].argmax(1).numpy()
        return float((pred == self.y_test).mean())

    @functools.cached_property
    def corruption_errors(self) -> dict[str, list[float]]:
        """Top-1 error per corruption and severity (the evaluator's ``corruption_errors``)."""
        return self._ev.corruption_errors(self.model)

    @functools.cached_property
    def clustering(self) -> dict[str, float]:
        """The clustering measures of the features (``objectives.proxy.clustering_scores``)."""

        return clustering_scores(
            self.features.numpy(),
            self.y_test,
            num_classes=self.num_classes,
            seed=self.seed,
            multicut_points=int(self._ev.settings("proxy")["multicut_points"]),
        )

    def attack(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clean predictions, adversarial predictions, labels) on the attacked images.

        The first ``adversarial.n_images`` test images (all when unset) are attacked once
        per kind; the result is kept in :attr:`attacks_done`.

        Args:
            kind: ``"fgsm"`` or ``"pgd"``.
        """
        if kind not in self.attacks_done:
            cfg = self.adversarial
            n = cfg["n_images"] or self.n_test
            x, y = self._ev.dataset.x_test[:n], self.y_test[:n]
            clean, adv = attack_predictions(
                self.model,
                x,
                y,
                attack=kind,
                eps=cfg["eps"],
                step=cfg["step"],
                steps=cfg["steps"],
                random_start=cfg["random_start"],
                seed=self.seed,
            )
            self.attacks_done[kind] = (clean, adv, y)
        return self.attacks_done[kind]


def __getattr__(name: str) -> Any:
    # the class was called Measurements up to 0.1.0; the name now belongs to the protocol
    # in moo_compress.objectives.base. Kept one release for code that subclasses it.
    if name == "Measurements":
        import warnings

        warnings.warn(
            "moo_compress.evaluation.measurements.Measurements is now ModelMeasurements "
            "(this alias goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return ModelMeasurements
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
