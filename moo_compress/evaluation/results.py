"""What an evaluation returns (:class:`TrialResult`), what objectives compare against
(:class:`Reference`), and the seed of one configuration's evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from moo_compress._utils.hashing import derived_seed

__all__ = ["Reference", "TrialResult", "trial_seed"]


def trial_seed(study_seed: int, config_key: str) -> int:
    """Seed of one configuration's evaluation: independent of trial order and worker.

    Args:
        study_seed: The study's seed.
        config_key: The configuration's key.

    Returns:
        A seed derived from both.
    """
    return derived_seed(study_seed, config_key)


@dataclass
class Reference:
    """What objectives compare against.

    ``baseline_*`` describe the study's uncompressed baseline (CR is always relative to it);
    ``name``, ``accuracy`` and ``corruption_errors`` the robustness reference (the baseline by
    default, or another stored model named in ``robustness.reference``).

    Args:
        baseline_accuracy: The baseline's clean accuracy (a fraction; mAP for detection).
        baseline_deflate_bytes: DEFLATE size of the baseline's packed artifact (CR's
            numerator).
        corruption_errors: The reference's top-1 error per corruption and severity (1 - mAP
            for detection).
        name: The reference's name (default ``"baseline"``; else the stored model's path).
        accuracy: The reference's clean accuracy (default None: ``baseline_accuracy``).
    """

    baseline_accuracy: float
    baseline_deflate_bytes: int
    corruption_errors: dict[str, list[float]]
    name: str = "baseline"
    accuracy: float | None = None

    def __post_init__(self) -> None:
        if self.accuracy is None:
            self.accuracy = self.baseline_accuracy

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict (cached next to the baseline, exported)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reference:
        """Rebuild a reference from :meth:`to_dict`'s output.

        Args:
            d: The dict (``name`` and ``accuracy`` may be missing).
        """
        return cls(
            float(d["baseline_accuracy"]),
            int(d["baseline_deflate_bytes"]),
            {k: list(v) for k, v in d["corruption_errors"].items()},
            str(d.get("name", "baseline")),
            float(d["accuracy"]) if d.get("accuracy") is not None else None,
        )


@dataclass
class TrialResult:
    """What :meth:`Evaluator.evaluate` returns for one configuration.

    Args:
        values: Every objective that has a value, by name.
        details: Each objective's details, by name (objectives without details left out;
            an undefined objective's details say why under ``undefined``).
        technique: The configuration's technique chain, by name.
        artifact: The packed model's bytes (the ``.mcz`` file).
        seconds: Wall time of the evaluation.
        measured: A multi-fidelity rung: the objectives known at the rung (measured there
            or reused from below; default None: the full evaluation, every objective).
        baseline: A multi-fidelity rung: the baseline's values measured as the rung
            measures, for constraints relative to the baseline (default None: the
            evaluator's ``baseline_values``).
        finetune_epochs: A multi-fidelity rung that pauses fine-tuning: the epochs its
            model's last fine-tuning run has done (default None: all of them).
        checkpoint: That paused run's checkpoint, to continue it (default None: the model is
            the full build's).
    """

    values: dict[str, float]
    details: dict[str, Any]
    technique: str
    artifact: bytes = field(repr=False)
    seconds: float
    measured: tuple[str, ...] | None = None
    baseline: dict[str, float] | None = None
    finetune_epochs: int | None = None
    checkpoint: bytes | None = field(default=None, repr=False)
