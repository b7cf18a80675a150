"""Compression ratio from real files: DEFLATE size of the baseline artifact / the model's."""

from __future__ import annotations

from moo_compress.objectives.base import ObjectiveResult


def compression_ratio(m) -> ObjectiveResult:
    """Both sizes are of the packed artifact format (``moo_compress.artifact``), zipped."""
    size = m.artifact_deflate_bytes
    return ObjectiveResult(
        m.reference.baseline_deflate_bytes / size,
        {
            "artifact_bytes": m.artifact_bytes,
            "artifact_deflate_bytes": size,
            "baseline_deflate_bytes": m.reference.baseline_deflate_bytes,
        },
    )
