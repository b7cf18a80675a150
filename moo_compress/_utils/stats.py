"""Statistics behind every "better" the benchmarks report (issue 22): a seeded bootstrap
interval of a median (or of a ratio of medians) and a one-sided Mann-Whitney test.

Both benchmark scripts (``benchmarks/search_efficiency.py``, ``benchmarks/multi_fidelity.py``)
compare per-seed results of one driver with those of another through :func:`compare`, so every
ratio they write carries the number of seeds, its 95 % interval and its p-value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_median_interval", "compare", "mann_whitney_greater"]

#: Bootstrap resamples of every interval the benchmarks write.
RESAMPLES = 10_000


def bootstrap_median_interval(
    values: Sequence[float],
    reference: Sequence[float] | None = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``median(values)``, or of
    ``median(values) / median(reference)`` when a reference is given (each sample resampled
    with replacement on its own, as two independent sets of seeds).

    Args:
        values: Per-seed results (at least one).
        reference: Per-seed results of the reference (default None: the interval of the
            median itself).
        resamples: Number of bootstrap resamples (default 10,000).
        seed: Seed of the resampling (default 0: the same inputs give the same interval).
        level: Coverage of the interval (default 0.95).

    Returns:
        ``(low, high)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
        resampled statistic (the resampled values just below and above them: no
        interpolation, so infinite values, e.g. a target never reached, are kept).

    Raises:
        ValueError: An empty sample, ``resamples < 1`` or ``level`` outside (0, 1).
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    if x.size == 0 or (reference is not None and len(reference) == 0):
        raise ValueError("bootstrap_median_interval needs at least one value in each sample")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1. Got {resamples} instead.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1). Got {level} instead.")
    rng = np.random.default_rng(seed)
    stat = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    if reference is not None:
        y = np.asarray(reference, dtype=float).reshape(-1)
        ref = np.median(y[rng.integers(0, y.size, size=(resamples, y.size))], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = stat / ref
    tail = (1.0 - level) / 2.0
    # the resampled values at the tails, not interpolated between them: an infinite value
    # (a target never reached) stays infinite instead of turning into NaN
    low = np.quantile(stat, tail, method="lower")
    high = np.quantile(stat, 1.0 - tail, method="higher")
    return float(low), float(high)


def mann_whitney_greater(values: Sequence[float], reference: Sequence[float]) -> float:
    """One-sided Mann-Whitney U test that ``values`` tend to be larger than ``reference``
    (``scipy.stats.mannwhitneyu(values, reference, alternative="greater")``; exact for small
    samples without ties, else the normal approximation with tie and continuity correction).

    Args:
        values: Per-seed results of the candidate.
        reference: Per-seed results of what it is compared with.

    Returns:
        The p-value (1.0 when either sample is empty).
    """
    from scipy.stats import mannwhitneyu

    x = np.asarray(values, dtype=float).reshape(-1)
    y = np.asarray(reference, dtype=float).reshape(-1)
    if x.size == 0 or y.size == 0:
        return 1.0
    return float(mannwhitneyu(x, y, alternative="greater").pvalue)


def compare(
    values: Sequence[float],
    reference: Sequence[float],
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
    larger_is_better: bool = True,
) -> dict[str, object]:
    """The ratio of medians of ``values`` to ``reference`` with its statistics, as the
    benchmarks store it.

    Args:
        values: Per-seed results of the candidate.
        reference: Per-seed results of the reference (e.g. random sampling).
        seed: Seed of the bootstrap (default 0).
        resamples: Bootstrap resamples (default 10,000).
        larger_is_better: Whether larger values are better (default True); when False the
            p-value tests that ``values`` tend to be smaller.

    Returns:
        ``{"n": seeds of values, "n_reference": seeds of the reference, "ratio": median
        ratio, "ci95": [low, high], "p": one-sided Mann-Whitney p-value}``.
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    y = np.asarray(reference, dtype=float).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.median(x) / np.median(y))
    low, high = bootstrap_median_interval(x, y, resamples=resamples, seed=seed)
    p = mann_whitney_greater(x, y) if larger_is_better else mann_whitney_greater(-x, -y)
    return {
        "n": int(x.size),
        "n_reference": int(y.size),
        "ratio": ratio,
        "ci95": [low, high],
        "p": p,
    }
