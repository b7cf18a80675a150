"""The benchmarks' statistics against hand-computed values and SciPy's own bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from moo_compress._utils.stats import bootstrap_median_interval, compare, mann_whitney_greater


def test_mann_whitney_exact_by_hand():
    # n1 = n2 = 3, no ties: U = 9 is the largest of C(6, 3) = 20 equally likely arrangements
    assert mann_whitney_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(1 / 20)
    assert mann_whitney_greater([1, 2, 3], [4, 5, 6]) == pytest.approx(1.0)
    # n1 = 4, n2 = 2: every x above every y is 1 of C(6, 2) = 15
    assert mann_whitney_greater([3, 4, 5, 6], [1, 2]) == pytest.approx(1 / 15)
    # x = {2, 4}, y = {1, 3}: U = 3; U over the 6 arrangements is 0, 1, 2, 2, 3, 4
    assert mann_whitney_greater([2, 4], [1, 3]) == pytest.approx(2 / 6)
    assert mann_whitney_greater([], [1.0]) == 1.0


def test_mann_whitney_normal_approximation_by_hand():
    # ties force the normal approximation: x = [1, 1, 2], y = [1, 2, 2]. Midranks: the three 1s
    # share rank 2, the three 2s share rank 5; U_x = 2 + 2 + 5 - 6 = 3, E[U] = 4.5,
    # var = n1 n2 / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))) = 0.75 * (7 - 48 / 30) = 4.05,
    # z = (3 - 4.5 - 0.5) / sqrt(4.05) (continuity correction towards the mean)
    from math import erf, sqrt

    z = (3 - 4.5 - 0.5) / sqrt(4.05)
    expected = 0.5 * (1 - erf(z / sqrt(2)))
    assert mann_whitney_greater([1, 1, 2], [1, 2, 2]) == pytest.approx(expected, rel=1e-9)


def test_bootstrap_by_hand():
    # resampled medians of {1, 3} (n = 2): 1 with p 1/4, 2 with p 1/2, 3 with p 1/4
    assert bootstrap_median_interval([1.0, 3.0]) == (1.0, 3.0)
    assert bootstrap_median_interval([1.0, 3.0], level=0.4) == (2.0, 2.0)
    # constant samples: the ratio itself, whatever the resample
    assert bootstrap_median_interval([2.0] * 5, [0.5] * 7) == (4.0, 4.0)
    # a target never reached (inf) stays inf at the upper end instead of NaN
    assert bootstrap_median_interval([1.0, np.inf, np.inf]) == (1.0, np.inf)
    with pytest.raises(ValueError, match="level"):
        bootstrap_median_interval([1.0], level=1.0)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_median_interval([1.0], [])


def test_bootstrap_matches_scipy_and_is_seeded():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(7)
    x = rng.lognormal(size=30)
    ours = bootstrap_median_interval(x, seed=3)
    assert ours == bootstrap_median_interval(x, seed=3)
    ref = bootstrap(
        (x,), np.median, n_resamples=10_000, method="percentile", random_state=11
    ).confidence_interval
    # two independent Monte-Carlo runs of the same percentile bootstrap: the quantiles of a
    # discrete median distribution of 30 values agree to within a neighbouring order statistic
    xs = np.sort(x)
    step = np.max(np.diff(xs[8:22]))
    assert abs(ours[0] - ref.low) <= step and abs(ours[1] - ref.high) <= step


def test_compare_ratio_and_direction():
    out = compare([2.0, 2.2, 2.4], [1.0, 1.1, 1.2])
    assert out["n"] == 3 and out["n_reference"] == 3
    assert out["ratio"] == pytest.approx(2.2 / 1.1)
    assert out["p"] == pytest.approx(1 / 20)
    lo, hi = out["ci95"]
    assert 2.0 / 1.2 <= lo <= out["ratio"] <= hi <= 2.4 / 1.0
    # smaller is better (seconds): the same samples tested the other way round
    assert compare([1.0, 1.1, 1.2], [2.0, 2.2, 2.4], larger_is_better=False)["p"] == pytest.approx(
        1 / 20
    )
