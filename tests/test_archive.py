"""The Pareto archive and its normalized hypervolume."""

from __future__ import annotations

import numpy as np

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
