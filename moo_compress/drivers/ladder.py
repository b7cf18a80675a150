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
    """

    objectives: tuple[str, ...]
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] | None = None
    images: int | None = None
    exact: tuple[str, ...] = ()

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
        """JSON form (stored in the study's driver options)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

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
        )
