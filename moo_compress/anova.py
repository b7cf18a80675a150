"""Seed 001's tables: cells of a criterion x granularity x pruning-ratio design and one-way
ANOVA p-values between criteria and granularities.

For every cell (criterion x granularity x pruning ratio) the values over the runs
(``replicate``) of each recorded objective; and one-way ANOVA p-values
(``scipy.stats.f_oneway``) for the pairs of seed 001's Table I (quality) and Table II
(inference time), plus DeepLIFT vs magnitude. Used by ``moo-compress report`` on a study of
that design and by ``benchmarks/seed001_anova.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from moo_compress.record import TrialRecord

__all__ = [
    "DESIGN_VARIABLES",
    "NAMES",
    "PAIRS",
    "anova",
    "cell_table",
    "cells_from_records",
    "is_design",
    "summary_lines",
]

NAMES = {"deeplift": "DeepLIFT", "hydra": "HYDRA", "magnitude": "magnitude"}
#: (label, (method, granularity), (method, granularity)), with {g} / {m} filled in.
PAIRS = [
    ("DeepLIFT vs. HYDRA ({G})", ("deeplift", "{g}"), ("hydra", "{g}")),
    ("DeepLIFT vs. magnitude ({G})", ("deeplift", "{g}"), ("magnitude", "{g}")),
    ("Unstructured vs. Kernel ({M})", ("{m}", "unstructured"), ("{m}", "kernel")),
]
#: The searched variables that make a study seed 001's design.
DESIGN_VARIABLES = ("prune_method", "prune_granularity", "prune_ratio", "replicate")
#: The metrics of seed 001's tables (Table I: quality under PGD, Table II: inference time).
METRICS = ("pgd_accuracy", "accuracy", "cr", "latency_ms")


def is_design(searched: Iterable[str], recorded: Iterable[str]) -> bool:
    """Whether a study is seed 001's design: it searches criterion, granularity, ratio and
    runs, and records accuracy under PGD and latency.

    Args:
        searched: The study's searched variables.
        recorded: The objectives its trials record.
    """
    return set(DESIGN_VARIABLES) <= set(searched) and {"pgd_accuracy", "latency_ms"} <= set(
        recorded
    )


def cells_from_records(
    records: Sequence[TrialRecord],
) -> dict[tuple[str, str, float], dict[str, list[float]]]:
    """The design's cells from the study's completed trials: ``{(method, granularity,
    ratio): {objective: [value per distinct model]}}``.

    A trial's configuration resets the settings of a stage that does not run, so every
    0 % point builds the unpruned baseline: that one model belongs to the 0 % cell of every
    criterion and granularity of the study (as in the design's grid).

    Args:
        records: Trial records; completed ones with objectives and the design's variables
            in their configuration are used, each distinct configuration key once.
    """
    cells: dict[tuple[str, str, float], dict[str, list[float]]] = {}
    seen: set[str] = set()
    unpruned: list[dict[str, float]] = []
    methods: dict[str, None] = {}
    grans: dict[str, None] = {}
    for r in records:
        c = r.config
        if r.state != "COMPLETE" or not r.objectives or r.config_key in seen:
            continue
        if not all(k in c for k in ("prune_method", "prune_granularity", "prune_ratio")):
            continue
        seen.add(r.config_key)
        methods[c["prune_method"]] = None
        grans[c["prune_granularity"]] = None
        if float(c["prune_ratio"]) == 0.0:
            unpruned.append(r.objectives)
            continue
        cell = cells.setdefault(
            (c["prune_method"], c["prune_granularity"], float(c["prune_ratio"])), {}
        )
        for k, v in r.objectives.items():
            cell.setdefault(k, []).append(float(v))
    for m in methods:
        for g in grans:
            for values in unpruned:
                cell = cells.setdefault((m, g, 0.0), {})
                for k, v in values.items():
                    cell.setdefault(k, []).append(float(v))
    return cells


def anova(cells: dict[tuple, dict[str, list[float]]], metric: str) -> list[dict[str, Any]]:
    """One-way ANOVA p-value of ``metric`` for every pair of :data:`PAIRS` at every ratio.

    Args:
        cells: ``{(method, granularity, ratio): {objective: [values]}}``.
        metric: The objective compared.

    Returns:
        Rows ``metric, pair, ratio, p_value, mean_a, mean_b, n`` (p NaN when a side has
        fewer than 2 models, 1.0 when every value is equal).
    """
    from scipy.stats import f_oneway

    ratios = sorted({r for _, _, r in cells})
    rows = []
    for label, a, b in PAIRS:
        for fill in ("unstructured", "kernel") if "{g}" in a[1] else ("deeplift", "hydra"):
            key_a = tuple(x.format(g=fill, m=fill) for x in a)
            key_b = tuple(x.format(g=fill, m=fill) for x in b)
            name = label.format(G=fill.capitalize(), M=NAMES.get(fill, fill))
            for r in ratios:
                va = cells.get((*key_a, r), {}).get(metric, [])
                vb = cells.get((*key_b, r), {}).get(metric, [])
                if len(va) < 2 or len(vb) < 2:
                    p = float("nan")  # one model (the 0 % column is the baseline itself)
                elif np.ptp(va + vb) == 0:
                    p = 1.0
                else:
                    p = float(f_oneway(va, vb).pvalue)
                rows.append(
                    {
                        "metric": metric,
                        "pair": name,
                        "ratio": r,
                        "p_value": p,
                        "mean_a": float(np.mean(va)) if va else float("nan"),
                        "mean_b": float(np.mean(vb)) if vb else float("nan"),
                        "n": min(len(va), len(vb)),
                    }
                )
    return rows


def cell_table(
    cells: dict[tuple, dict[str, list[float]]], metrics: Sequence[str] = METRICS
) -> pd.DataFrame:
    """One row per cell: method, granularity, ratio, n and the mean and standard deviation
    (over runs; NaN for one model) of each metric.

    Args:
        cells: ``{(method, granularity, ratio): {objective: [values]}}``.
        metrics: The metrics (default accuracy under PGD, accuracy, CR, latency).
    """
    import pandas as pd

    rows = []
    for (m, g, r), vals in sorted(cells.items()):
        row: dict[str, Any] = {"method": m, "granularity": g, "ratio": r}
        row["n"] = max((len(vals.get(k, [])) for k in metrics), default=0)
        for k in metrics:
            v = vals.get(k, [])
            row[f"{k}_mean"] = float(np.mean(v)) if v else float("nan")
            row[f"{k}_std"] = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def summary_lines(frame: pd.DataFrame, tests: pd.DataFrame) -> list[str]:
    """Seed 001's tables as Markdown: accuracy under PGD per cell (mean +- std over runs),
    then the p-values of Table I (accuracy under PGD) and Table II (inference time).

    Args:
        frame: :func:`cell_table`'s table.
        tests: :func:`anova`'s rows for ``pgd_accuracy`` and ``latency_ms`` as a table.
    """
    lines = []
    ratios = sorted(frame["ratio"].unique())
    lines.append("| criterion, granularity | " + " | ".join(f"{100 * r:g}%" for r in ratios) + " |")
    lines.append("|---" * (len(ratios) + 1) + "|")
    for (m, g), sub in frame.groupby(["method", "granularity"], sort=True):
        sub = sub.set_index("ratio")
        cells_txt = [
            "-"
            if r not in sub.index
            else f"{sub.loc[r, 'pgd_accuracy_mean']:.1f} (1 model)"
            if sub.loc[r, "n"] < 2
            else f"{sub.loc[r, 'pgd_accuracy_mean']:.1f} +- {sub.loc[r, 'pgd_accuracy_std']:.1f}"
            for r in ratios
        ]
        lines.append(f"| {NAMES.get(m, m)}, {g} | " + " | ".join(cells_txt) + " |")
    for metric, title in (
        ("pgd_accuracy", "Table I analogue: p-values on accuracy under PGD"),
        ("latency_ms", "Table II analogue: p-values on inference time"),
    ):
        lines += ["", f"## {title}", ""]
        lines.append("| pair | " + " | ".join(f"{100 * r:g}%" for r in ratios) + " |")
        lines.append("|---" * (len(ratios) + 1) + "|")
        sub = tests[tests.metric == metric]
        for pair, rows_p in sub.groupby("pair", sort=False):
            ps = rows_p.set_index("ratio")["p_value"]
            lines.append(
                f"| {pair} | "
                + " | ".join(
                    "n/a" if np.isnan(ps.get(r, float("nan"))) else f"{ps.get(r):.2e}"
                    for r in ratios
                )
                + " |"
            )
        if metric == "latency_ms":
            significant = int((sub["p_value"] < 0.05).sum())
            lines += [
                "",
                f"{significant} of {int(sub['p_value'].notna().sum())} pairs differ at p < 0.05.",
            ]
    return lines
