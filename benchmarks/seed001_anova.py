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

from moo_compress.anova import NAMES, anova, summary_lines

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


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
    import _provenance

    _provenance.record(out / "seed001_cells.csv")
    tests.to_csv(out / "seed001_anova.csv", index=False)
    import _provenance

    _provenance.record(out / "seed001_anova.csv")

    lines = [
        "# Seed 001 design on digits: accuracy under PGD (mean +- std over runs)",
        "",
        "Each cell holds 10 runs (replicates) except 0 %, which is one model: the unpruned "
        "baseline (every 0 % grid point builds it), so it has no spread and no p-value.",
        "",
    ]
    lines += summary_lines(frame, tests)
    text = "\n".join(lines) + "\n"
    (out / "seed001_summary.md").write_text(text)
    import _provenance

    _provenance.record(out / "seed001_summary.md")
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
    import _provenance

    _provenance.record(out / "seed001_pruning.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
