"""The Pareto archive and its normalized hypervolume."""

from __future__ import annotations

import numpy as np
import pytest

from moo_compress.archive import normalized_hypervolume, pareto_indices


def test_pareto_and_hypervolume():
    values = np.array([[90.0, 2.0], [80.0, 5.0], [70.0, 4.0], [90.0, 2.0]])
    assert pareto_indices(values, ["maximize", "maximize"]) == [0, 1]
    hv = normalized_hypervolume(values, ["maximize", "maximize"], [(0, 100), (0, 10)])
    # union of [0,.9]x[0,.2] and [0,.8]x[0,.5]
    assert abs(hv - (0.9 * 0.2 + 0.8 * 0.3)) < 1e-9
    assert (
        normalized_hypervolume(np.empty((0, 2)), ["maximize", "minimize"], [(0, 1), (0, 1)]) == 0.0
    )


@pytest.mark.parametrize("n_obj", [2, 3, 4])
def test_the_incremental_archive_equals_a_full_recomputation(n_obj):
    """Point by point, the archive's front, size and hypervolume equal pareto_indices and
    normalized_hypervolume over every point so far (ties and repeated points included)."""
    from moo_compress.archive import ParetoArchive, normalized_hypervolume, pareto_indices

    rng = np.random.default_rng(n_obj)
    directions = ["maximize", "minimize", "maximize", "minimize"][:n_obj]
    bounds = [(0.0, 1.0)] * n_obj
    points = np.round(rng.random((300, n_obj)), 1)  # coarse: many ties and repeats
    archive = ParetoArchive(directions, bounds)
    for i, p in enumerate(points):
        archive.add(p)
        seen = points[: i + 1]
        keep = pareto_indices(seen, directions)
        assert archive.size == len(keep)
        assert {tuple(r) for r in archive.values} == {tuple(r) for r in seen[keep]}
        if i % 25 == 0 or i == len(points) - 1:
            assert archive.hypervolume() == pytest.approx(
                normalized_hypervolume(seen, directions, bounds), abs=1e-12
            )
