"""Compression ratio from real files: DEFLATE size of the baseline artifact / the model's."""

from __future__ import annotations

from moo_compress.objectives.base import Measurements, ObjectiveResult

__all__ = ["compression_ratio"]


def compression_ratio(m: Measurements) -> ObjectiveResult:
    """DEFLATE size of the baseline artifact / the model's.

    Both sizes are of the packed artifact format (``moo_compress.artifact``), zipped.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``artifact_deflate_bytes``, ``artifact_bytes`` and ``reference``).

    Returns:
        The ratio, with both DEFLATE sizes and the raw artifact size as details.
    """
    size = m.artifact_deflate_bytes
    return ObjectiveResult(
        m.reference.baseline_deflate_bytes / size,
        {
            "artifact_bytes": m.artifact_bytes,
            "artifact_deflate_bytes": size,
            "baseline_deflate_bytes": m.reference.baseline_deflate_bytes,
        },
    )
