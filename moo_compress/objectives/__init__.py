"""Objectives, found by name. Every objective is computed and stored for every trial; a study
chooses which of them the search optimizes and in which direction.

``bounds`` are the values mapped to 0 and 1 when the archive's hypervolume is normalized
(a study may override them).
"""

from __future__ import annotations

from dataclasses import dataclass

from moo_compress.registry import Registry


@dataclass(frozen=True)
class ObjectiveInfo:
    name: str
    default_direction: str
    bounds: tuple[float, float]
    unit: str


OBJECTIVE_INFO: dict[str, ObjectiveInfo] = {
    "accuracy": ObjectiveInfo("accuracy", "maximize", (0.0, 100.0), "% top-1, clean test split"),
    "cr": ObjectiveInfo(
        "cr", "maximize", (1.0, 50.0), "x, DEFLATE size of baseline / model artifact"
    ),
    "mce": ObjectiveInfo("mce", "minimize", (0.0, 200.0), "mean corruption error, baseline = 100"),
    "proxy_purity": ObjectiveInfo(
        "proxy_purity", "maximize", (0.0, 1.5), "k-means purity / accuracy"
    ),
}

OBJECTIVES = Registry(
    "objective",
    {
        "accuracy": "moo_compress.objectives.accuracy:accuracy",
        "cr": "moo_compress.objectives.cr:compression_ratio",
        "mce": "moo_compress.objectives.mce:mean_corruption_error",
        "proxy_purity": "moo_compress.objectives.proxy:proxy_purity",
    },
)

__all__ = ["OBJECTIVES", "OBJECTIVE_INFO", "ObjectiveInfo"]
