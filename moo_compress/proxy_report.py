"""How well the clustering proxies (seed 003) predict measured robustness, over a study.

For every completed trial that recorded them, each proxy is related to the corrupted
accuracy ACC_corrupted (``corruption_accuracy``, %), the robustness ratio
ACC_corrupted / ACC_clean and mCE: R^2 of the least-squares line and Kendall's tau
(with its p-value). Seed 003 reports, across 12 ImageNet models, R^2 = 0.87 (combined purity)
and tau = 0.79-0.82 (k-means); these numbers are what this engine measures on the models of
one compression study, which differ from each other far less than distinct architectures.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from moo_compress import storage as st
from moo_compress.objectives import OBJECTIVE_INFO, PROXIES, ROBUSTNESS_TARGETS

if TYPE_CHECKING:
    import optuna
    import pandas as pd

__all__ = ["PAPER", "TARGETS", "format_validity", "plot_validity", "proxy_points", "proxy_validity"]

PAPER = {"r2_combined": 0.87, "tau_kmeans": (0.79, 0.82)}
#: What the proxies are related to (objectives): corrupted accuracy, robustness ratio, mCE.
TARGETS = ROBUSTNESS_TARGETS


def proxy_points(study: optuna.Study) -> pd.DataFrame:
    """DataFrame of trial number, every proxy and every target of :data:`TARGETS`
    (complete trials).

    Args:
        study: The study; complete trials without accuracy, the robustness objectives and
            at least one proxy are left out; a proxy a trial did not record is NaN.
    """
    import pandas as pd
    from optuna.trial import TrialState

    rows = []
    for r in st.records(study, states=(TrialState.COMPLETE,)):
        objs = r.objectives
        if any(k in objs for k in PROXIES) and any(k in objs for k in TARGETS):
            rows.append(
                {"trial": r.number, **{k: objs.get(k, np.nan) for k in (*PROXIES, *TARGETS)}}
            )
    return pd.DataFrame(rows, columns=["trial", *PROXIES, *TARGETS])


def proxy_validity(points: pd.DataFrame) -> pd.DataFrame:
    """One row per (proxy, target): n, R^2, Kendall tau and its p-value.

    Statistics are NaN with fewer than 3 finite points or when either variable is constant.

    Args:
        points: :func:`proxy_points`'s table.
    """
    import pandas as pd
    from scipy.stats import kendalltau

    rows = []
    for proxy in PROXIES:
        for target in TARGETS:
            x = points[proxy].to_numpy(float)
            y = points[target].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            x, y = x[ok], y[ok]
            r2 = tau = p = float("nan")
            if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
                r2 = float(np.corrcoef(x, y)[0, 1] ** 2)
                res = kendalltau(x, y)
                tau, p = float(res.statistic), float(res.pvalue)
            rows.append(
                {
                    "proxy": proxy,
                    "target": target,
                    "n": int(len(x)),
                    "r2": r2,
                    "kendall_tau": tau,
                    "p_value": p,
                }
            )
    return pd.DataFrame(rows)


def format_validity(table: pd.DataFrame) -> str:
    """The validity table as text, with seed 003's numbers (:data:`PAPER`) below it.

    Args:
        table: :func:`proxy_validity`'s table.

    Returns:
        The text, or a one-line note when no pair has 3 points.
    """
    if table.empty or table["n"].max() < 3:
        return "(fewer than 3 completed trials with proxies and robustness recorded)"
    fmt = {c: (lambda v: f"{v:.3f}") for c in ("r2", "kendall_tau")}
    fmt["p_value"] = lambda v: f"{v:.2g}"
    text = table.to_string(index=False, formatters=fmt)
    return (
        text
        + f"\n\nseed 003 (12 ImageNet models): R^2 = {PAPER['r2_combined']} (combined purity), "
        f"tau = {PAPER['tau_kmeans'][0]}-{PAPER['tau_kmeans'][1]} (k-means)"
    )


def plot_validity(points: pd.DataFrame, table: pd.DataFrame, path: Path) -> None:
    """A PNG grid of scatter plots: proxies (rows) x robustness targets (columns).

    Each panel shows the least-squares line when R^2 is defined, and R^2, tau and n.

    Args:
        points: :func:`proxy_points`'s table.
        table: :func:`proxy_validity`'s table.
        path: The PNG file (folders created; written under a temporary name, then renamed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(PROXIES), len(TARGETS), figsize=(12, 3 * len(PROXIES)))
    for i, proxy in enumerate(PROXIES):
        for j, target in enumerate(TARGETS):
            ax = axes[i, j]
            x = points[proxy].to_numpy(float)
            y = points[target].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            x, y = x[ok], y[ok]
            ax.scatter(x, y, s=14, alpha=0.7)
            row = table[(table.proxy == proxy) & (table.target == target)].iloc[0]
            if np.isfinite(row.r2):
                a, b = np.polyfit(x, y, 1)
                xs = np.linspace(x.min(), x.max(), 2)
                ax.plot(xs, a * xs + b, color="C3", lw=1)
            ax.set_title(f"R²={row.r2:.2f}  τ={row.kendall_tau:.2f}  (n={row.n})", fontsize=9)
            unit = OBJECTIVE_INFO[proxy].unit.split(";")[0]  # the unit, not the commentary
            ax.set_xlabel(textwrap.fill(f"{proxy} ({unit})", 48), fontsize=8)
            ax.set_ylabel(target, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
