"""Seed 001's tables from a finished ``studies/seed001_pruning.yaml`` study.

For every cell (criterion x granularity x pruning ratio) the mean and standard deviation over
the runs (``replicate``) of accuracy under PGD, clean accuracy, CR and latency; and one-way
ANOVA p-values (``scipy.stats.f_oneway``) for the pairs of seed 001's Table I (quality) and
Table II (inference time), plus DeepLIFT vs magnitude.

    python benchmarks/seed001_anova.py studies/seed001_pruning.yaml

Writes ``benchmarks/results/seed001_cells.csv``, ``seed001_anova.csv``, ``seed001_summary.md``
and ``seed001_pruning.png``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NAMES = {"deeplift": "DeepLIFT", "hydra": "HYDRA", "magnitude": "magnitude"}
PAIRS = [
    # (label, (method, granularity), (method, granularity)) with {g} / {m} filled in
    ("DeepLIFT vs. HYDRA ({G})", ("deeplift", "{g}"), ("hydra", "{g}")),
    ("DeepLIFT vs. magnitude ({G})", ("deeplift", "{g}"), ("magnitude", "{g}")),
    ("Unstructured vs. Kernel ({M})", ("{m}", "unstructured"), ("{m}", "kernel")),
]


def collect(study_file: str) -> dict[tuple, dict[str, list[float]]]:
    from moo_compress import storage as st
    from moo_compress.config import load_study_config

    cfg = load_study_config(study_file)
    study = st.load_existing(cfg, st.storage_url(cfg))
    done = {r.config_key: r.objectives for r in st.records(study) if r.state == "COMPLETE"}
    space = cfg.space
    names = [v.name for v in space.searched]
    cells: dict[tuple, dict[str, list[float]]] = {}
    seen: dict[tuple, set[str]] = {}
    missing = 0
    for point in itertools.product(*(v.grid_values() for v in space.searched)):
        p = dict(zip(names, point, strict=True))
        key = space.config_key(space.full_config(p))
        values = done.get(key)
        if values is None:
            missing += 1
            continue
        cell_key = (p["prune_method"], p["prune_granularity"], p["prune_ratio"])
        # grid points that build the same model (every 0 % point: the baseline) count once
        if key in seen.setdefault(cell_key, set()):
            continue
        seen[cell_key].add(key)
        cell = cells.setdefault(cell_key, {})
        for k, v in values.items():
            cell.setdefault(k, []).append(float(v))
    if missing:
        print(f"warning: {missing} grid points have no completed trial yet", file=sys.stderr)
    return cells


def distinct_models(study_file: str) -> dict[tuple, int]:
    """Number of distinct models (configuration keys) in every cell, from the space alone."""
    from moo_compress.config import load_study_config

    space = load_study_config(study_file).space
    names = [v.name for v in space.searched]
    keys: dict[tuple, set[str]] = {}
    for point in itertools.product(*(v.grid_values() for v in space.searched)):
        p = dict(zip(names, point, strict=True))
        cell = (p["prune_method"], p["prune_granularity"], float(p["prune_ratio"]))
        keys.setdefault(cell, set()).add(space.config_key(space.full_config(p)))
    return {cell: len(k) for cell, k in keys.items()}


def anova(cells, metric: str) -> list[dict]:
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


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the seed001_pruning study file")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="rebuild the tables from the committed CSVs (no study database needed), "
        "counting each cell's distinct models from the space",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = ["pgd_accuracy", "accuracy", "cr", "latency_ms"]
    if args.from_results:
        frame = pd.read_csv(out / "seed001_cells.csv")
        tests = pd.read_csv(out / "seed001_anova.csv")
        n = distinct_models(args.study)
        frame["n"] = [
            min(int(row.n), n[(row.method, row.granularity, float(row.ratio))])
            for row in frame.itertuples()
        ]
        for k in metrics:  # one model has no spread
            frame.loc[frame["n"] < 2, f"{k}_std"] = float("nan")
        single = set(frame.loc[frame["n"] < 2, "ratio"])
        tests.loc[tests["ratio"].isin(single), ["p_value", "n"]] = [float("nan"), 1]
    else:
        cells = collect(args.study)
        rows = []
        for (m, g, r), vals in sorted(cells.items()):
            row = {"method": m, "granularity": g, "ratio": r, "n": len(vals["pgd_accuracy"])}
            for k in metrics:
                row[f"{k}_mean"] = float(np.mean(vals[k]))
                row[f"{k}_std"] = (
                    float(np.std(vals[k], ddof=1)) if len(vals[k]) > 1 else float("nan")
                )
            rows.append(row)
        frame = pd.DataFrame(rows)
        tests = pd.DataFrame(anova(cells, "pgd_accuracy") + anova(cells, "latency_ms"))
    frame.to_csv(out / "seed001_cells.csv", index=False)
    tests.to_csv(out / "seed001_anova.csv", index=False)

    lines = [
        "# Seed 001 design on digits: accuracy under PGD (mean +- std over runs)",
        "",
        "Each cell holds 10 runs (replicates) except 0 %, which is one model: the unpruned "
        "baseline (every 0 % grid point builds it), so it has no spread and no p-value.",
        "",
    ]
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
        lines.append(f"| {NAMES[m]}, {g} | " + " | ".join(cells_txt) + " |")
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
    text = "\n".join(lines) + "\n"
    (out / "seed001_summary.md").write_text(text)
    print(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (m, g), sub in frame.groupby(["method", "granularity"], sort=True):
        style = "-" if g == "unstructured" else "--"
        for ax, k in zip(axes, ("pgd_accuracy", "latency_ms"), strict=True):
            ax.errorbar(
                100 * sub["ratio"],
                sub[f"{k}_mean"],
                yerr=sub[f"{k}_std"],
                linestyle=style,
                marker="o",
                ms=3,
                capsize=2,
                label=f"{NAMES[m]}, {g}",
            )
    axes[0].set(xlabel="pruning ratio (%)", ylabel="accuracy under PGD (%)")
    axes[1].set(xlabel="pruning ratio (%)", ylabel="latency, batch 1 (ms)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "seed001_pruning.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
