"""One rung of a multi-fidelity driver's ladder, as the driver reads it from its options
(the study file's ``driver.rungs`` are validated by :mod:`moo_compress.config._fidelity`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Rung"]


@dataclass(frozen=True)
class Rung:
    """One rung below the full evaluation.

    Args:
        objectives: The objectives measured here (with those known from the rungs below).
        corruptions: Corruptions for corrupted-image objectives (None: the study's).
        severities: Severities for corrupted-image objectives (None: the study's).
        images: Validation images measured (None: all).
        exact: The objectives this rung measures exactly as the full evaluation does
            (reused above it, never measured again).
        finetune_epochs: Epochs of the build's last fine-tuning run at this rung (paused
            there, continued by the rung above; None: the run's full length, the full
            evaluation's model; see :func:`moo_compress.compression.pipeline.build`).
    """

    objectives: tuple[str, ...]
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] | None = None
    images: int | None = None
    exact: tuple[str, ...] = ()
    finetune_epochs: int | None = None

    def fidelity(self) -> dict[str, Any] | None:
        """The data subset as the evaluator takes it (None: the full evaluation data)."""
        if self.corruptions is None and self.severities is None and self.images is None:
            return None
        return {
            "corruptions": list(self.corruptions) if self.corruptions else None,
            "severities": list(self.severities) if self.severities else None,
            "images": self.images,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stored in the study's driver options; ``finetune_epochs`` only when
        set, so ladders stored before it keep their form)."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        if out["finetune_epochs"] is None:
            del out["finetune_epochs"]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rung:
        """Rebuild a rung from :meth:`to_dict`'s output.

        Args:
            d: The dict.
        """
        return cls(
            tuple(d["objectives"]),
            tuple(d["corruptions"]) if d.get("corruptions") else None,
            tuple(int(s) for s in d["severities"]) if d.get("severities") else None,
            int(d["images"]) if d.get("images") is not None else None,
            tuple(d.get("exact", ())),
            int(d["finetune_epochs"]) if d.get("finetune_epochs") is not None else None,
        )
