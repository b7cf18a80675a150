"""The evaluator interface: what a search and an export may ask of an evaluator.

An evaluator turns one pipeline configuration into a :class:`TrialResult`. Search code
(the session, the drivers) uses only :class:`BaseEvaluator`; ``export`` and ``evaluate``,
which rebuild and re-measure real models, use :class:`ModelEvaluator`. Implementations:

- :class:`~moo_compress.evaluation.classification.ClassificationEvaluator` (a
  :class:`ModelEvaluator`);
- :class:`~moo_compress.evaluation.detection.DetectionEvaluator` (a classification
  evaluator with detection's data, scoring and measurements);
- :class:`~moo_compress.evaluation.table.TableEvaluator` (a :class:`BaseEvaluator` that
  looks stored evaluations up: replays and tabular benchmarks).

A new task is one module with a :class:`ModelEvaluator` subclass and one entry in
:data:`moo_compress.evaluation.EVALUATORS`.
"""

from __future__ import annotations

import abc
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

    from moo_compress.evaluation.results import Reference, TrialResult
    from moo_compress.objectives.base import ObjectiveResult

__all__ = ["BaseEvaluator", "ModelEvaluator"]


class BaseEvaluator(abc.ABC):
    """What a search asks of an evaluator.

    Attributes:
        quality: The objective a rebuilt or re-measured model must reproduce (``accuracy``;
            ``map`` for detection).
    """

    quality: str = "accuracy"

    @abc.abstractmethod
    def prepare(self, archs: list[str]) -> None:
        """Get everything ready that every evaluation needs (baselines, references), so
        that the first trial is not charged for it.

        Args:
            archs: The architectures the study's configurations may name.
        """

    @abc.abstractmethod
    def arch_of(self, config: dict[str, Any]) -> str:
        """The architecture a configuration uses: its ``arch``, else the study's.

        Args:
            config: A full pipeline configuration.
        """

    @abc.abstractmethod
    def baseline_values(
        self, arch: str, *, fidelity: dict[str, Any] | None = None
    ) -> dict[str, float]:
        """Every recorded objective of the uncompressed baseline of ``arch``: what
        constraints relative to the baseline compare with.

        Args:
            arch: The architecture's name.
            fidelity: Measured on this data subset, as a rung measures (``{"corruptions",
                "severities", "images"}``; default None: the full evaluation data).
        """

    @abc.abstractmethod
    def evaluate_rung(
        self,
        config: dict[str, Any],
        config_key: str,
        *,
        objectives: list[str] | None = None,
        fidelity: dict[str, Any] | None = None,
        artifact: bytes | None = None,
        finetune_epochs: int | None = None,
        checkpoint: bytes | None = None,
    ) -> TrialResult:
        """Measure ``objectives`` of a configuration's model, on a data subset when asked:
        one rung of a multi-fidelity search.

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
            objectives: Names to measure (default None: every recorded objective).
            fidelity: ``{"corruptions", "severities", "images"}`` subsets (default None:
                the full evaluation data).
            artifact: The model's packed bytes from a lower rung (default None: build it).
            finetune_epochs: Build the model with its last fine-tuning run paused after
                this many epochs (default None: the full build; ignored with
                ``artifact``). The result carries the paused run's checkpoint.
            checkpoint: A lower rung's paused run to continue (default None: build from
                the baseline; an unreadable one is built again, identically).

        Raises:
            FloatingPointError: An objective is NaN or infinite.
        """

    def evaluate(self, config: dict[str, Any], config_key: str) -> TrialResult:
        """The full evaluation of a configuration: every recorded objective on the full
        evaluation data.

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
        """
        return self.evaluate_rung(config, config_key)


class ModelEvaluator(BaseEvaluator):
    """What ``export`` and ``evaluate`` ask of an evaluator besides a search's needs: the
    data, the baselines and their references, and measuring a model loaded from its
    artifact.

    Attributes:
        dataset: The split's data (``x_train``, ``y_train``, ``x_test``, ``y_test``,
            ``num_classes``, ``name``).
    """

    dataset: Any

    @abc.abstractmethod
    def build(self, config: dict[str, Any], config_key: str) -> bytes:
        """Compress the baseline with ``config`` and pack it (the ``.mcz`` bytes).

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
        """

    @abc.abstractmethod
    def measure(
        self,
        model: nn.Module,
        artifact: bytes,
        objectives: list[str] | None = None,
        *,
        reference: Reference | None = None,
    ) -> dict[str, ObjectiveResult]:
        """Compute objectives of a model loaded back from ``artifact``.

        Args:
            model: The loaded model.
            artifact: Its packed bytes.
            objectives: Names to measure (default None: every recorded objective).
            reference: What to compare against (default None: the study architecture's).
        """

    @abc.abstractmethod
    def score_outputs(self, outputs: Any) -> dict[str, float]:
        """The quality objective from outputs on the whole clean evaluation split.

        Args:
            outputs: The model's outputs, one row per image.
        """

    @abc.abstractmethod
    def settings(self, section: str) -> dict[str, Any]:
        """A section of the evaluation spec as a dict, with its defaults.

        Args:
            section: The section's name (``adversarial``, ``latency``, ``proxy``, ...).
        """

    @abc.abstractmethod
    def baseline_for(self, arch: str) -> nn.Module:
        """The trained uncompressed model of ``arch``.

        Args:
            arch: The architecture's name.
        """

    @abc.abstractmethod
    def baseline_path_for(self, arch: str) -> Path:
        """Where the baseline of ``arch`` is stored (its packed bytes).

        Args:
            arch: The architecture's name.
        """

    @abc.abstractmethod
    def reference_for(self, arch: str) -> Reference:
        """What the models of ``arch`` are compared against (baseline accuracy and size,
        the robustness reference's errors).

        Args:
            arch: The architecture's name.
        """


def __getattr__(name: str) -> Any:
    # moo_compress.evaluation.base held the classification evaluator up to 0.1.0; kept one
    # release for code that imports it from here
    if name in ("Evaluator", "BASELINE_VERSION", "Measurements", "Reference", "TrialResult"):
        from moo_compress.evaluation import classification

        warnings.warn(
            f"moo_compress.evaluation.base.{name} moved: import it from "
            f"moo_compress.evaluation.classification (this alias goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        if name == "Evaluator":
            return classification.ClassificationEvaluator
        return getattr(classification, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
