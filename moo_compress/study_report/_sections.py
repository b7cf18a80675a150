"""The report's sections, one function each: text, tables and PNG files in a folder."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress import anova as seed001
from moo_compress import storage as st
from moo_compress.archive import pareto_indices
from moo_compress.corruptions.parameters import PARAMETER_SETS
from moo_compress.objectives import OBJECTIVE_INFO
from moo_compress.proxy_report import format_validity, plot_validity, proxy_points, proxy_validity
from moo_compress.study_report._data import (
    ReportData,
    ReportSection,
    _mce_details,
    _technique,
    knee_index,
)
from moo_compress.study_report._plots import (
    _ARCHIVE_COLOR,
    _FADED,
    _INFEASIBLE,
    _baseline_note,
    _clipped,
    _direction,
    _groups,
    _label,
    _mark_baseline,
    _outside,
    _outside_note,
    _plt,
    _save,
    _scatter_groups,
    _view,
)

if TYPE_CHECKING:
    from moo_compress.record import TrialRecord

__all__: list[str] = []


# -- sections --------------------------------------------------------------------------------
def _constraints_text(data: ReportData) -> str:
    parts = []
    for lim in data.limits:
        where = (
            f"{lim['objective']} {lim['side']} {lim['limit']:.4g}"
            if lim["limit"] is not None
            else "baseline value unknown"
        )
        parts.append(f"`{lim['label']}` ({where})")
    return ", ".join(parts)


def _parameter_set_text(name: str) -> str:
    p = PARAMETER_SETS.get(name)
    return f"{p.title}'s, made for {p.image_size}x{p.image_size} by `{p.script}`" if p else name


def _overview(data: ReportData) -> ReportSection:
    import pandas as pd

    v, s = data.view, data.summary
    sec = ReportSection("Study", "study")
    budget = "?" if s["budget"] is None else s["budget"]
    sec.text(
        f"Study `{v.name}`, driver `{v.driver}`, task {v.task}, architecture `{v.arch}`"
        + (f" (architectures searched: {', '.join(v.archs)})" if len(v.archs) > 1 else "")
        + f". {s['complete']}/{budget} trials complete, {s['failed']} failed"
        + (f", {s['running']} running" if s["running"] else "")
        + (
            f"; constraints: {_constraints_text(data)}; "
            f"{int((~data.feasible).sum())} of {len(data.complete)} completed trials infeasible"
            if data.limits
            else "; no constraints"
        )
        + f". Archive: {len(data.archive)} feasible Pareto-optimal models, normalized "
        f"hypervolume {s['hypervolume']:.4f}."
        + (
            f" Corruptions made with the `{s['corruption_parameters']}` parameter set"
            f" ({_parameter_set_text(s['corruption_parameters'])})."
            if s.get("corruption_parameters")
            else ""
        )
        + f" Report written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    rows = []
    sources = v.bounds_source or [""] * len(v.bounds)
    for name, d, (lo, hi), src in zip(
        v.objective_names, v.directions, v.bounds, sources, strict=True
    ):
        info = OBJECTIVE_INFO.get(name)
        b = data.baseline.values.get(name)
        rows.append(
            {
                "objective": name,
                "direction": d,
                "unit": info.unit if info else "?",
                "hypervolume bounds": f"[{lo:.4g}, {hi:.4g}]" + (f" ({src})" if src else ""),
                "baseline": "unknown" if b is None else f"{b:.4g}",
                "baseline from": data.baseline.sources.get(name, "-"),
            }
        )
    sec.table(pd.DataFrame(rows))
    if len(v.archs) > 1:
        sec.text(
            f"The baseline is the uncompressed `{v.arch}`; each architecture's models are "
            "measured against their own (CR and mCE are relative to it)."
        )
    return sec


def _front(data: ReportData, out: Path, axes: Sequence[str] | None) -> ReportSection:
    plt = _plt()
    v = data.view
    names = v.objective_names
    k = len(names)
    sec = ReportSection("The front", "front")
    if not len(data.complete):
        sec.text("No completed trial yet: nothing to plot.")
        return sec
    fig, grid = plt.subplots(k, k, figsize=(3.3 * k, 3.3 * k), squeeze=False)
    arch, dominated, infeasible = _groups(data)
    for i in range(k):
        for j in range(k):
            ax = grid[j, i]  # column i: x = objective i; row j: y = objective j
            if i == j:
                col = _clipped(data, names[i])
                edges = np.histogram_bin_edges(col[np.isfinite(col)], bins=15)
                ax.set_xlim(*_view(data, names[i]))
                ax.hist(
                    [col[arch], col[~arch]],
                    bins=edges,
                    stacked=True,
                    color=[_ARCHIVE_COLOR, _FADED],
                    label=["archive", "others"],
                )
                if names[i] in data.baseline.values:
                    ax.axvline(data.baseline.values[names[i]], color="black", ls="--", lw=0.8)
                for lim in data.limits:
                    if lim["objective"] == names[i] and lim["limit"] is not None:
                        ax.axvline(lim["limit"], color=_INFEASIBLE, ls=":", lw=1.2)
                ax.set_ylabel("trials", fontsize=8)
            else:
                _scatter_groups(ax, data, i, j)
                _mark_baseline(ax, data, names[i], names[j])
                ax.set_ylabel(_label(names[j], v, 30), fontsize=7)
            ax.set_xlabel(_label(names[i], v, 30), fontsize=7)
            ax.tick_params(labelsize=7)
    handles, labels = grid[1, 0].get_legend_handles_labels() if k > 1 else ([], [])
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(
        _baseline_note(data, names) + _outside_note(data, names), y=0.005, va="bottom", fontsize=8
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    _save(fig, out / "front_matrix.png")
    sec.text(
        f"Every pair of the {k} optimized objectives; {len(data.archive)} archive models "
        f"(feasible, Pareto-optimal in all {k} objectives) in blue, dominated feasible trials "
        f"in grey, infeasible trials as red crosses ({int(infeasible.sum())}). The star is "
        "the uncompressed baseline (a dashed line where only one of its two values is known), "
        "a red dotted line the edge a constraint puts on an objective; the diagonal shows "
        "each objective's distribution. The axes span the feasible trials, the baseline and "
        "the constraints' edges: trials far outside (models broken by compression) are drawn "
        "on the border" + (f" ({_outside(data, names)} of them)." if _outside(data, names) else ".")
    )
    sec.image("front_matrix.png", "Scatter matrix of the optimized objectives")
    shown = list(axes) if axes else names[: min(3, k)]
    if len(shown) >= 2:
        _front_2d(data, out, shown[0], shown[1])
        sec.text(
            f"{shown[0]} against {shown[1]}: archive models numbered by trial; the line joins "
            "the archive models that are also non-dominated in these two objectives alone."
        )
        sec.image("front_2d.png", f"{shown[0]} vs {shown[1]}")
    if len(shown) >= 3:
        _front_3d(data, out, shown[:3])
        sec.image("front_3d.png", f"{shown[0]}, {shown[1]} and {shown[2]}")
    return sec


def _front_2d(data: ReportData, out: Path, x: str, y: str) -> None:
    plt = _plt()
    v = data.view
    xs, ys = _clipped(data, x), _clipped(data, y)
    arch, dominated, infeasible = _groups(data)
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    ax.set_xlim(*_view(data, x))
    ax.set_ylim(*_view(data, y))
    ax.scatter(xs[dominated], ys[dominated], s=18, color=_FADED, alpha=0.5, label="dominated")
    if infeasible.any():
        ax.scatter(
            xs[infeasible],
            ys[infeasible],
            s=22,
            marker="x",
            color=_INFEASIBLE,
            alpha=0.5,
            label="infeasible",
        )
    ax.scatter(
        xs[arch],
        ys[arch],
        s=44,
        color=_ARCHIVE_COLOR,
        edgecolor="black",
        lw=0.5,
        zorder=4,
        label="archive (all objectives)",
    )
    for i in np.flatnonzero(arch):
        ax.annotate(
            str(data.complete[i].number),
            (xs[i], ys[i]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    pts = np.flatnonzero(arch & np.isfinite(xs) & np.isfinite(ys))
    if len(pts):
        two = np.column_stack([xs[pts], ys[pts]])
        front = pts[pareto_indices(two, [_direction(x, v), _direction(y, v)])]
        front = front[np.argsort(xs[front])]
        ax.plot(
            xs[front],
            ys[front],
            color=_ARCHIVE_COLOR,
            lw=1,
            alpha=0.7,
            label="2-D front of the archive",
        )
    _mark_baseline(ax, data, x, y)
    ax.set_xlabel(_label(x, v, 60))
    ax.set_ylabel(_label(y, v, 40))
    ax.set_title(_baseline_note(data, [x, y]) + _outside_note(data, [x, y]), fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, out / "front_2d.png")


def _front_3d(data: ReportData, out: Path, names: Sequence[str]) -> None:
    plt = _plt()
    v = data.view
    cols = [_clipped(data, n) for n in names]
    arch, dominated, infeasible = _groups(data)
    fig = plt.figure(figsize=(8, 6.5))
    ax = fig.add_subplot(projection="3d")
    ax.set_xlim(*_view(data, names[0]))
    ax.set_ylim(*_view(data, names[1]))
    ax.set_zlim(*_view(data, names[2]))
    for mask, kw in (
        (dominated, {"s": 14, "color": _FADED, "alpha": 0.4, "label": "dominated"}),
        (
            infeasible,
            {"s": 18, "marker": "x", "color": _INFEASIBLE, "alpha": 0.5, "label": "infeasible"},
        ),
        (arch, {"s": 40, "color": _ARCHIVE_COLOR, "edgecolor": "black", "label": "archive"}),
    ):
        if mask.any():
            ax.scatter(*(c[mask] for c in cols), **kw)
    floor = _view(data, names[2])[0]
    for i in np.flatnonzero(arch):  # stems to the floor: where a point is in depth
        ax.plot(
            [cols[0][i]] * 2,
            [cols[1][i]] * 2,
            [floor, cols[2][i]],
            color=_ARCHIVE_COLOR,
            lw=0.6,
            alpha=0.5,
        )
    b = data.baseline.values
    if all(n in b for n in names):
        ax.scatter(
            *([b[n]] for n in names),
            marker="*",
            s=250,
            color="gold",
            edgecolor="black",
            label="baseline",
        )
    for setter, n in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel), names, strict=True):
        setter(_label(n, v, 30), fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_title(_baseline_note(data, names) + _outside_note(data, names), fontsize=8)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save(fig, out / "front_3d.png")


def _hypervolume(data: ReportData, out: Path) -> ReportSection:
    plt = _plt()
    sec = ReportSection("Hypervolume", "hypervolume")
    hist = data.summary["hv_history"]
    if not hist:
        sec.text("No hypervolume history recorded yet.")
        return sec
    n = [h["n_complete"] for h in hist]
    hv = [h["hv"] for h in hist]
    size = [h["archive_size"] for h in hist]
    times = [h.get("time") for h in hist]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.3))
    a1.step(n, hv, where="post", color="tab:blue", marker="o", ms=3)
    a1.set_xlabel("completed trials (evaluations)")
    a1.set_ylabel("normalized hypervolume [0-1]\nhigher is better ↑", color="tab:blue")
    t1 = a1.twinx()
    t1.step(n, size, where="post", color="tab:orange", alpha=0.7)
    t1.set_ylabel("archive size (models)", color="tab:orange")
    a1.set_title("over evaluations")
    a1.grid(alpha=0.3)
    known = [(t, h) for t, h in zip(times, hv, strict=True) if t is not None]
    if known:
        trials = data.study.get_trials(deepcopy=False)
        starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start]
        t0 = min([*starts, known[0][0]])
        a2.step(
            [(t - t0) / 60 for t, _ in known],
            [h for _, h in known],
            where="post",
            color="tab:blue",
            marker="o",
            ms=3,
        )
        a2.set_xlabel("minutes since the first trial started (wall clock, pauses included)")
        a2.ticklabel_format(axis="x", useOffset=False)
    else:
        a2.text(0.5, 0.5, "no times recorded", ha="center", transform=a2.transAxes)
        a2.set_xlabel("minutes")
    a2.set_ylabel("normalized hypervolume [0-1]\nhigher is better ↑")
    a2.set_title("over time")
    a2.grid(alpha=0.3)
    bounds = ", ".join(
        f"{nm} [{lo:g}, {hi:g}]"
        for nm, (lo, hi) in zip(data.view.objective_names, data.view.bounds, strict=True)
    )
    fig.suptitle(
        f"hypervolume of the normalized archive, reference point = worst bound of {bounds}",
        fontsize=8,
    )
    fig.tight_layout()
    _save(fig, out / "hypervolume.png")
    sec.text(
        f"The hypervolume the search recorded after each archive update ({len(hist)} entries; "
        f"last {hv[-1]:.4f} with {size[-1]} models after {n[-1]} completed trials). Each "
        "objective is mapped to [0, 1] between its bounds (table above: set in the study "
        "file, the objective's default, or derived from the baseline and the constraints "
        "when the study was created), so 1 would be a model at the best bound of every "
        "objective."
    )
    sec.image("hypervolume.png", "Hypervolume over evaluations and over time")
    return sec


def _variable_values(data: ReportData, name: str, idx: Sequence[int]) -> list[str]:
    out = []
    for i in idx:
        r = data.complete[i]
        if name == "technique":
            out.append(_technique(r))
        elif name == "arch":
            out.append(str(r.config.get("arch", data.view.arch)))
        else:
            out.append(str(r.config.get(name, "-")))
    return out


def _composition(data: ReportData, out: Path) -> ReportSection:
    import pandas as pd

    plt = _plt()
    sec = ReportSection("What the archive is made of", "composition")
    if not data.archive:
        sec.text("The archive is empty.")
        return sec
    names = ["technique", "arch"] + [
        n for n in data.view.searched if n not in ("technique", "arch")
    ]
    feas = list(np.flatnonzero(data.feasible))
    ncol = 3
    nrow = -(-len(names) // ncol)
    fig, grid = plt.subplots(nrow, ncol, figsize=(5 * ncol, 3.2 * nrow), squeeze=False)
    rows = []
    for ax, name in zip(grid.flat, names, strict=False):
        a_vals = pd.Series(_variable_values(data, name, data.archive))
        f_vals = pd.Series(_variable_values(data, name, feas))
        cats = sorted(set(f_vals) | set(a_vals), key=_natural)
        if name == "arch":
            cats = sorted(set(cats) | set(data.view.archs), key=_natural)
        a_share = [100 * float((a_vals == c).mean()) for c in cats]
        f_share = [100 * float((f_vals == c).mean()) for c in cats]
        y = np.arange(len(cats))
        ax.barh(y + 0.2, a_share, height=0.4, color=_ARCHIVE_COLOR, label="archive")
        ax.barh(
            y - 0.2,
            f_share,
            height=0.4,
            color="none",
            edgecolor="0.4",
            label="all feasible completed trials",
        )
        ax.set_yticks(y, cats, fontsize=7)
        ax.set_xlabel("share of models (%)", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        for c, a in zip(cats, a_share, strict=True):
            rows.append(
                {
                    "variable": name,
                    "value": c,
                    "archive share": f"{a:.0f} %",
                    "archive models": int((a_vals == c).sum()),
                }
            )
    for ax in list(grid.flat)[len(names) :]:
        ax.axis("off")
    grid.flat[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"archive: {len(data.archive)} models; all feasible completed trials: {len(feas)}",
        fontsize=9,
    )
    fig.tight_layout()
    _save(fig, out / "composition.png")
    sec.text(
        "Share of each technique (the stages that ran), architecture and value of each "
        "searched variable, in the archive (filled) and among all feasible completed trials "
        "(outline): a value over-represented in the archive is one the front favours."
        + (
            f" Per-layer variables ({', '.join(data.view.per_layer)}) are not shown."
            if data.view.per_layer
            else ""
        )
    )
    sec.image("composition.png", "Archive composition")
    table = pd.DataFrame(rows)
    sec.table(table[table["archive models"] > 0])
    return sec


def _natural(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def _robustness(data: ReportData, out: Path) -> ReportSection:
    import pandas as pd
    from matplotlib.colors import TwoSlopeNorm

    plt = _plt()
    sec = ReportSection("Robustness of the front", "robustness")
    rows = [(data.complete[i], _mce_details(data.complete[i])) for i in data.archive]
    rows = [(r, d) for r, d in rows if d]
    if not rows:
        sec.text("The archive's trials recorded no corruption errors (mce not recorded).")
        return sec
    corruptions = list(rows[0][1]["errors"])
    excluded = sorted({c for _, d in rows for c in d.get("excluded", [])})
    extra = set(rows[0][1].get("ce_extra", {}))
    matrix = np.array(
        [
            [100 * {**d.get("ce", {}), **d.get("ce_extra", {})}.get(c, np.nan) for c in corruptions]
            for _, d in rows
        ]
    )
    labels = [
        f"trial {r.number} ({_technique(r)})"
        + (f", mCE {r.objectives['mce']:.0f}" if "mce" in r.objectives else "")
        for r, _ in rows
    ]
    fig, ax = plt.subplots(
        figsize=(max(8, 0.55 * len(corruptions) + 3), max(3, 0.32 * len(rows) + 2))
    )
    finite = matrix[np.isfinite(matrix)]
    hi = max(200.0, float(finite.max()) if finite.size else 200.0)
    lo = min(0.0, float(finite.min()) if finite.size else 0.0)
    im = ax.imshow(matrix, aspect="auto", cmap="RdYlGn_r", norm=TwoSlopeNorm(100.0, lo, hi))
    ax.set_xticks(
        range(len(corruptions)),
        [
            c + (" *" if c in extra else "") + (" (excl.)" if c in excluded else "")
            for c in corruptions
        ],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel(
        "corruption (* = extra, not in the mCE mean; excl. = reference makes no error, left out)",
        fontsize=8,
    )
    ax.set_ylabel("archive model")
    if matrix.size <= 600:
        for (i, j), val in np.ndenumerate(matrix):
            if np.isfinite(val):
                ax.text(j, i, f"{val:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(
        im,
        ax=ax,
        label=f"CE per corruption (%, {data.baseline.reference} = 100)\nlower is better ↓",
    )
    ax.set_title(
        "corruption error of each archive model relative to the reference (100 = as robust as the reference)",
        fontsize=9,
    )
    fig.tight_layout()
    _save(fig, out / "robustness_ce.png")
    sec.text(
        "CE per corruption = the model's errors summed over severities / the reference's "
        f"(×100; the reference `{data.baseline.reference}` scores 100, green is more robust). "
        "mCE is the mean over the standard corruptions kept."
        + (
            f" Excluded (the reference makes under one error per severity): {', '.join(excluded)}."
            if excluded
            else ""
        )
    )
    sec.image("robustness_ce.png", "CE per corruption of the archive models")

    severities = list(rows[0][1].get("mean_error_per_severity", {}))
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("viridis")
    for n, (r, d) in enumerate(rows):
        per = d.get("mean_error_per_severity", {})
        xs = [0] + [int(s) for s in severities]
        clean = 100 - r.objectives["accuracy"] if "accuracy" in r.objectives else np.nan
        ax.plot(
            xs,
            [clean] + [100 * per[s] for s in severities],
            marker="o",
            ms=3,
            lw=1,
            color=cmap(n / max(1, len(rows) - 1)),
            label=f"trial {r.number}" if len(rows) <= 16 else None,
        )
    ref = data.baseline.reference_errors
    if ref:
        std = [c for c in corruptions if c not in extra and c not in excluded and c in ref]
        ref_acc = (
            data.baseline.values.get("accuracy") if data.baseline.reference == "baseline" else None
        )
        ys = [100 * float(np.mean([ref[c][k] for c in std])) for k in range(len(severities))]
        ax.plot(
            [0] + [int(s) for s in severities],
            [100 - ref_acc if ref_acc is not None else np.nan] + ys,
            color="black",
            ls="--",
            lw=2,
            label=f"reference ({data.baseline.reference})",
        )
    else:
        ax.text(
            0.02,
            0.95,
            "reference errors not found in the study's cache",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.set_xticks([0] + [int(s) for s in severities], ["clean"] + severities)
    ax.set_xlabel("corruption severity (mean over the standard corruptions)")
    ax.set_ylabel("top-1 error (%)\nlower is better ↓")
    ax.legend(fontsize=7, ncol=2)
    if len(rows) > 16:
        ax.text(
            0.02,
            0.02,
            f"{len(rows)} archive models, coloured by trial number (dark: first)",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.grid(alpha=0.3)
    ax.set_title("error by severity of the archive models", fontsize=9)
    fig.tight_layout()
    _save(fig, out / "robustness_severity.png")
    sec.image("robustness_severity.png", "Error by severity")
    table = pd.DataFrame(matrix.round(1), columns=corruptions)
    table.insert(0, "model", labels)
    sec.table(table)
    return sec


def _config_text(data: ReportData, r: TrialRecord) -> str:
    names = [n for n in data.view.searched if n != "technique"]
    parts = [f"{n}={r.config.get(n)}" for n in names if n in r.config]
    return ", ".join(parts) or "-"


def _extremes(data: ReportData) -> ReportSection:
    import pandas as pd

    v = data.view
    sec = ReportSection("Extremes and knee", "extremes")
    if not data.archive:
        sec.text("The archive is empty.")
        return sec
    picks: list[tuple[str, int]] = []
    feas = np.flatnonzero(data.feasible)
    for j, (name, d) in enumerate(zip(v.objective_names, v.directions, strict=True)):
        col = data.values[feas, j]
        best = int(feas[np.argmax(col) if d == "maximize" else np.argmin(col)])
        picks.append((f"best {name}", best))
    knee = knee_index(data.values[data.archive], v.directions)
    if knee is not None:
        picks.append(("knee", data.archive[knee]))
    rows = []
    for role, i in picks:
        r = data.complete[i]
        row: dict[str, Any] = {"": role, "trial": r.number, "technique": _technique(r)}
        if len(v.archs) > 1:
            row["arch"] = r.config.get("arch", v.arch)
        row.update({n: float(data.values[i, j]) for j, n in enumerate(v.objective_names)})
        row["configuration"] = _config_text(data, r)
        rows.append(row)
    sec.text(
        "The best feasible model in each optimized objective, and the knee of the archive: "
        "the model nearest the ideal point once each objective is scaled between the "
        "archive's best and worst values."
    )
    sec.table(pd.DataFrame(rows))
    return sec


def _importance(data: ReportData, out: Path, min_trials: int = 8) -> ReportSection:
    import optuna
    import pandas as pd

    plt = _plt()
    sec = ReportSection("Parameter importance", "importance")
    v = data.view
    trials = [
        t for t in data.study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.values
    ]
    varying = {
        p
        for p in {k for t in trials for k in t.params}
        if len({json.dumps(t.params.get(p), default=str) for t in trials}) > 1
    }
    if len(trials) < min_trials or not varying:
        sec.text(
            f"Skipped: fANOVA needs at least {min_trials} completed trials with searched "
            f"parameters that vary (the study has {len(trials)} completed trials, "
            f"{len(varying)} varying parameters)."
        )
        return sec
    found: dict[str, dict[str, float]] = {}
    notes = []
    for i, name in enumerate(v.objective_names):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found[name] = optuna.importance.get_param_importances(
                    data.study,
                    target=lambda t, i=i: t.values[i],
                    evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                )
        except Exception as exc:  # noqa: BLE001 - a note in the report, not a crash
            notes.append(f"{name}: {str(exc).splitlines()[0]}")
    if not found:
        sec.text("Skipped: " + "; ".join(notes))
        return sec
    params = sorted({p for imp in found.values() for p in imp})
    fig, grid = plt.subplots(
        1,
        len(found),
        figsize=(3.6 * len(found) + 1.5, 0.35 * len(params) + 2),
        squeeze=False,
        sharey=True,
    )
    for ax, (name, imp) in zip(grid[0], found.items(), strict=True):
        ax.barh(range(len(params)), [imp.get(p, 0.0) for p in params], color="tab:purple")
        ax.set_yticks(range(len(params)), params, fontsize=8)
        ax.set_xlabel("importance (share of variance, fANOVA)", fontsize=8)
        ax.set_title(f"{name} ({_direction(name, v)})", fontsize=9)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    grid[0, 0].invert_yaxis()
    fig.suptitle(
        f"parameter importance per objective, {len(trials)} completed trials (Optuna FanovaImportanceEvaluator, seed 0)",
        fontsize=9,
    )
    fig.tight_layout()
    _save(fig, out / "importance.png")
    sec.text(
        "How much of each objective's variance over the completed trials each searched "
        "parameter explains (Optuna's fANOVA evaluator, a random forest; with few trials the "
        "estimates are rough)." + (" Not computed: " + "; ".join(notes) + "." if notes else "")
    )
    sec.image("importance.png", "Parameter importance per objective")
    table = pd.DataFrame({name: [imp.get(p, 0.0) for p in params] for name, imp in found.items()})
    table.insert(0, "parameter", params)
    sec.table(table)
    return sec


def _proxies(data: ReportData, out: Path) -> ReportSection:

    sec = ReportSection("Proxy validity", "proxies")
    points = proxy_points(data.study)
    table = proxy_validity(points)
    if len(points) < 3:
        sec.text(format_validity(table))
        return sec
    table.to_csv(out / "proxy_validity.csv", index=False)
    points.to_csv(out / "proxy_points.csv", index=False)
    plot_validity(points, table, out / "proxy_validity.png")
    sec.text(
        "How well each clustering proxy (seed 003) predicts measured robustness over the "
        "completed trials: R² of the least-squares line and Kendall's τ (what `report "
        "--proxy` prints; also in proxy_validity.csv and proxy_points.csv)."
    )
    sec.pre(format_validity(table))
    sec.image("proxy_validity.png", "Proxies against robustness targets")
    return sec


def _anova(data: ReportData) -> ReportSection | None:
    import pandas as pd

    recorded = set(data.view.record) | {k for r in data.complete[:1] for k in r.objectives}
    if not seed001.is_design(data.view.searched, recorded):
        return None
    sec = ReportSection("Seed 001 ANOVA", "anova")
    from optuna.trial import TrialState

    cells = seed001.cells_from_records(st.records(data.study, states=(TrialState.COMPLETE,)))
    if not cells:
        sec.text("No completed trial of the design yet.")
        return sec
    frame = seed001.cell_table(cells)
    tests = pd.DataFrame(seed001.anova(cells, "pgd_accuracy") + seed001.anova(cells, "latency_ms"))
    sec.text(
        "Accuracy under PGD per cell (mean +- std over runs), then one-way ANOVA p-values "
        "(seed 001's Table I on accuracy under PGD, Table II on inference time)."
    )
    sec.blocks.append(("markdown", "\n".join(seed001.summary_lines(frame, tests))))
    return sec
