"""``moo-compress report``: one folder a person looks at, ``report.html`` (self-contained:
images embedded as data URIs, no external request) and the same content as ``report.md``
with PNG files.

Sections: the study and its baseline; the front (a scatter matrix of every pair of
optimized objectives, 2-D and 3-D views); hypervolume over evaluations and over time (the
stored history); what the archive is made of; robustness of the front (CE per corruption,
error by severity); the extremes and the knee point with their configurations; parameter
importance per objective (Optuna's fANOVA); the clustering proxies' validity; seed 001's
ANOVA tables when the study is that design.

The archive is the Pareto set of the *feasible* completed trials (every constraint met,
:attr:`moo_compress.record.TrialRecord.feasible`). Plots use matplotlib's Agg backend only.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress import anova as seed001
from moo_compress import storage as st
from moo_compress.archive import pareto_indices
from moo_compress.objectives import OBJECTIVE_INFO
from moo_compress.report import StudyView, status

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from moo_compress.record import TrialRecord

__all__ = [
    "FORMATS",
    "Baseline",
    "ReportData",
    "Section",
    "find_baseline",
    "knee_index",
    "load_report_data",
    "render_html",
    "render_markdown",
    "write_report",
]

FORMATS = ("md", "html", "both")
_DPI = 100
_ARCHIVE_COLOR = "tab:blue"
_FADED = "0.6"
_INFEASIBLE = "tab:red"


# -- data ----------------------------------------------------------------------------------
@dataclass
class Baseline:
    """What the report knows of the uncompressed baseline (the study's architecture).

    Args:
        values: Objective values known, by name.
        sources: Where each value comes from, by name.
        reference_errors: The robustness reference's error per corruption and severity
            (None when its cached file was not found).
        reference: The robustness reference's name (``baseline`` or a model file).
    """

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    reference_errors: dict[str, list[float]] | None = None
    reference: str = "baseline"


@dataclass
class ReportData:
    """The study as the report reads it.

    Args:
        view: The study as searched.
        study: The Optuna study (opened read-only).
        complete: Completed trials that recorded every optimized objective, by number.
        values: Their optimized objectives, one row each (objective order of ``view``).
        feasible: Whether each of them meets every constraint.
        archive: Indices into ``complete`` of the archive (feasible and Pareto-optimal).
        baseline: What is known of the baseline.
        summary: :func:`moo_compress.report.status` of the study.
        limits: :func:`constraint_limits` of the study.
    """

    view: StudyView
    study: optuna.Study
    complete: list[TrialRecord]
    values: np.ndarray
    feasible: np.ndarray
    archive: list[int]
    baseline: Baseline
    summary: dict[str, Any]
    limits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Section:
    """One section of the report: a title and blocks, rendered to Markdown and HTML alike.

    Args:
        title: The heading.
        anchor: The HTML id (letters, digits and dashes).
        blocks: ``("text", str)``, ``("pre", str)``, ``("table", DataFrame)`` or
            ``("image", file name, caption)`` in order.
    """

    title: str
    anchor: str
    blocks: list[tuple] = field(default_factory=list)

    def text(self, s: str) -> None:
        """Add a paragraph (``code`` in backquotes is kept).

        Args:
            s: The paragraph.
        """
        self.blocks.append(("text", s))

    def pre(self, s: str) -> None:
        """Add preformatted text.

        Args:
            s: The text.
        """
        self.blocks.append(("pre", s))

    def table(self, frame: pd.DataFrame) -> None:
        """Add a table.

        Args:
            frame: The table (its index is not shown).
        """
        self.blocks.append(("table", frame))

    def image(self, name: str, caption: str) -> None:
        """Add a PNG written in the report folder.

        Args:
            name: Its file name.
            caption: What it shows.
        """
        self.blocks.append(("image", name, caption))


def load_report_data(view: StudyView, study: optuna.Study) -> ReportData:
    """Read what the report shows from the study.

    Args:
        view: The study as searched (:func:`moo_compress.report.study_view`).
        study: The study.
    """
    from optuna.trial import TrialState

    names = view.objective_names
    recs = [
        r
        for r in st.records(study, states=(TrialState.COMPLETE,))
        if all(n in r.objectives for n in names)
    ]
    values = np.array([[r.objectives[n] for n in names] for r in recs], dtype=float)
    values = values.reshape(-1, len(names))
    feasible = np.array([r.feasible for r in recs], dtype=bool)
    ok = np.flatnonzero(feasible)
    archive = sorted(
        (int(ok[i]) for i in pareto_indices(values[ok], view.directions)) if len(ok) else [],
        key=lambda i: recs[i].number,
    )
    baseline = find_baseline(view, recs)
    return ReportData(
        view=view,
        study=study,
        complete=recs,
        values=values,
        feasible=feasible,
        archive=archive,
        baseline=baseline,
        summary=status(view, study),
        limits=constraint_limits(view, baseline),
    )


def _mce_details(r: TrialRecord) -> dict[str, Any] | None:
    try:
        details = r.result.get("details", {}).get("mce")
    except (KeyError, AttributeError):
        return None
    return details if isinstance(details, dict) and "errors" in details else None


def _technique(r: TrialRecord) -> str:
    try:
        return str(r.result.get("technique", "?"))
    except KeyError:
        return "?"


def find_baseline(view: StudyView, records: Sequence[TrialRecord]) -> Baseline:
    """What the study knows of its uncompressed baseline (the study's architecture).

    CR is 1 by definition (sizes are relative to the baseline's file) and mCE and relative
    mCE are 100 for the robustness reference (the baseline unless ``robustness.reference``
    names another model). The other objectives come, in this order, from a completed trial
    of technique ``original`` (the baseline itself, measured as a trial), or from the
    study's cache: the reference file whose errors reproduce the trials' CE per corruption
    (the baseline's accuracy on the same split), and a cached measurement of every
    objective of that baseline when constraints relative to it were computed. Nothing is
    measured here.

    Args:
        view: The study as searched (its architecture and cache folder).
        records: The completed trials.
    """
    base = Baseline()
    arch_of = [r.config.get("arch", view.arch) for r in records]
    mine = [r for r, a in zip(records, arch_of, strict=True) if a == view.arch]
    details = next((d for d in map(_mce_details, mine) if d), None)
    if details is not None:
        base.reference = str(details.get("reference", "baseline"))
    base.values["cr"] = 1.0
    base.sources["cr"] = "definition: sizes are relative to the baseline's file"
    if base.reference == "baseline":
        for name in ("mce", "relative_mce"):
            base.values[name] = 100.0
            base.sources[name] = "definition: the reference (the baseline) scores 100"
    original = next((r for r in mine if _technique(r) == "original"), None)
    if original is not None:
        for k, v in original.objectives.items():
            if k not in base.values and v is not None and np.isfinite(v):
                base.values[k] = float(v)
                base.sources[k] = f"trial {original.number} (technique original)"
    ref_file = _matching_reference(Path(view.cache_dir) / "baselines", mine)
    if ref_file is not None:
        data = json.loads(ref_file.read_text())
        base.reference_errors = data.get("corruption_errors")
        acc = 100.0 * float(data.get("baseline_accuracy", float("nan")))
        if "accuracy" not in base.values and np.isfinite(acc):
            base.values["accuracy"] = acc
            base.sources["accuracy"] = f"cache ({ref_file.name})"
        stem = ref_file.name.split(".", 1)[0]
        for cached in sorted(ref_file.parent.glob(f"{stem}.*.values.json")):
            vals = json.loads(cached.read_text())
            if abs(float(vals.get("accuracy", -1.0)) - acc) < 1e-9:
                for k, v in vals.items():
                    if k not in base.values:
                        base.values[k] = float(v)
                        base.sources[k] = f"cache ({cached.name})"
                break
    return base


def _matching_reference(folder: Path, records: Sequence[TrialRecord]) -> Path | None:
    """The cached reference file whose errors reproduce the trials' CE per corruption
    (CE_c = sum of the model's errors / sum of the reference's), so the right split and
    reference are found without loading any data."""
    if not folder.is_dir():
        return None
    checks = []
    for r in records:
        d = _mce_details(r)
        if d:
            ce = {**d.get("ce", {}), **d.get("ce_extra", {})}
            checks += [(c, float(np.sum(d["errors"][c])), v) for c, v in ce.items() if v > 0]
        if len(checks) >= 20:
            break
    if not checks:
        return None
    for path in sorted(folder.glob("*.reference.json")):
        try:
            errors = json.loads(path.read_text()).get("corruption_errors", {})
        except (OSError, ValueError):
            continue
        if all(
            c in errors and np.isclose(num / v, float(np.sum(errors[c])), rtol=1e-6, atol=1e-9)
            for c, num, v in checks
        ):
            return path
    return None


def constraint_limits(view: StudyView, baseline: Baseline) -> list[dict[str, Any]]:
    """Where each constraint of the study puts the edge of the feasible region, in its
    objective's unit (relative kinds use the baseline's value).

    Args:
        view: The study as searched (its stored constraints).
        baseline: What is known of the baseline.

    Returns:
        One ``{"objective", "label", "side", "limit"}`` per constraint: ``side`` ``">="``
        or ``"<="`` (a feasible model's value is on that side of ``limit``); ``limit`` is
        None when the constraint is relative and the baseline's value is unknown.
    """
    from moo_compress.settings import Constraint

    out = []
    for stored in view.constraints:
        c = Constraint(stored["objective"], stored["kind"], float(stored["bound"]))
        base = baseline.values.get(c.objective)
        limit, side = None, ">=" if c.kind in ("min",) or c.kind.endswith("drop") else "<="
        if not c.relative or base is not None:
            v0, v1 = c.value(0.0, base), c.value(1.0, base)  # linear in the measured value
            limit = -v0 / (v1 - v0)
            side = ">=" if v1 < v0 else "<="
        out.append({"objective": c.objective, "label": c.label, "side": side, "limit": limit})
    return out


def knee_index(values: np.ndarray, directions: Sequence[str]) -> int | None:
    """The knee of a front: the point nearest (Euclidean) to the ideal point once each
    objective is scaled to [0, 1] between the front's best and worst values (0 best).

    Args:
        values: The front's objective values, one row per point.
        directions: ``"minimize"`` or ``"maximize"`` for each objective.

    Returns:
        The row's index (None for an empty front).
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    if len(values) == 0:
        return None
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    f = values * sign
    lo, hi = f.min(axis=0), f.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(np.linalg.norm((f - lo) / span, axis=1)))


# -- plot helpers ----------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _direction(name: str, view: StudyView) -> str:
    if name in view.objective_names:
        return view.directions[view.objective_names.index(name)]
    info = OBJECTIVE_INFO.get(name)
    return info.default_direction if info else "maximize"


def _label(name: str, view: StudyView, width: int = 38) -> str:
    """Axis label: name, unit and direction (wrapped)."""
    import textwrap

    info = OBJECTIVE_INFO.get(name)
    unit = info.unit.split(";")[0] if info else "?"  # the unit, not the commentary
    arrow = "higher is better ↑" if _direction(name, view) == "maximize" else "lower is better ↓"
    return "\n".join(textwrap.wrap(f"{name} [{unit}]", width) + [arrow])


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=_DPI, metadata={"Software": None})  # no URL, same bytes
    _plt().close(fig)
    tmp.replace(path)


def _groups(data: ReportData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks over ``data.complete``: archive, feasible but dominated, infeasible."""
    n = len(data.complete)
    arch = np.zeros(n, dtype=bool)
    arch[data.archive] = True
    return arch, data.feasible & ~arch, ~data.feasible


def _baseline_note(data: ReportData, names: Sequence[str]) -> str:
    known = [f"{n} {data.baseline.values[n]:.4g}" for n in names if n in data.baseline.values]
    unknown = [n for n in names if n not in data.baseline.values]
    text = "baseline ★: " + (", ".join(known) if known else "no value known")
    if unknown:
        text += f"; not known for {', '.join(unknown)} (no trial of technique original, no cached measurement)"
    return text


def _mark_baseline(ax, data: ReportData, x: str, y: str) -> None:
    for lim in data.limits:
        if lim["limit"] is None or lim["objective"] not in (x, y):
            continue
        line = ax.axvline if lim["objective"] == x else ax.axhline
        line(
            lim["limit"],
            color=_INFEASIBLE,
            ls=":",
            lw=1.2,
            label=f"constraint {lim['label']} ({lim['side']} {lim['limit']:.4g})",
        )
    b = data.baseline.values
    if x in b and y in b:
        ax.scatter(
            [b[x]],
            [b[y]],
            marker="*",
            s=220,
            color="gold",
            edgecolor="black",
            zorder=5,
            label="baseline",
        )
    elif x in b:
        ax.axvline(b[x], color="black", ls="--", lw=0.8, label=f"baseline {x}")
    elif y in b:
        ax.axhline(b[y], color="black", ls="--", lw=0.8, label=f"baseline {y}")


def _view(data: ReportData, name: str) -> tuple[float, float]:
    """Axis range of an objective: the feasible trials, the baseline and the constraint's
    edge (all trials when none is feasible), padded; trials far outside it (broken models)
    would squeeze the front into a corner, so they are drawn on the border instead."""
    col = _column(data, name)
    keep = col[data.feasible & np.isfinite(col)]
    if not keep.size:
        keep = col[np.isfinite(col)]
    extra = [data.baseline.values[name]] if name in data.baseline.values else []
    extra += [x["limit"] for x in data.limits if x["objective"] == name and x["limit"] is not None]
    both = np.concatenate([keep, np.asarray(extra, dtype=float)])
    if not both.size:
        return (0.0, 1.0)
    lo, hi = float(both.min()), float(both.max())
    pad = 0.06 * (hi - lo) if hi > lo else max(1.0, abs(lo)) * 0.05
    return (lo - pad, hi + pad)


def _clipped(data: ReportData, name: str) -> np.ndarray:
    """The objective's values, those beyond the axes moved just inside the border (closer
    to it than any point within the range, which the padding keeps off it)."""
    lo, hi = _view(data, name)
    inset = 0.015 * (hi - lo)
    return np.clip(_column(data, name), lo + inset, hi - inset)


def _outside(data: ReportData, names: Sequence[str]) -> int:
    """How many completed trials lie beyond the axes of ``names``."""
    out = np.zeros(len(data.complete), dtype=bool)
    for n in names:
        lo, hi = _view(data, n)
        col = _column(data, n)
        out |= (col < lo) | (col > hi)
    return int(out.sum())


def _outside_note(data: ReportData, names: Sequence[str]) -> str:
    n = _outside(data, names)
    if not n:
        return ""
    return f"; {n} trial{'s' if n > 1 else ''} beyond the axes drawn on the border"


def _scatter_groups(ax, data: ReportData, i: int, j: int) -> None:
    arch, dominated, infeasible = _groups(data)
    names = data.view.objective_names
    v = np.column_stack([_clipped(data, n) for n in names])
    ax.set_xlim(*_view(data, names[i]))
    ax.set_ylim(*_view(data, names[j]))
    ax.scatter(v[dominated, i], v[dominated, j], s=14, color=_FADED, alpha=0.45, label="dominated")
    if infeasible.any():
        ax.scatter(
            v[infeasible, i],
            v[infeasible, j],
            s=18,
            marker="x",
            color=_INFEASIBLE,
            alpha=0.45,
            label="infeasible",
        )
    ax.scatter(
        v[arch, i],
        v[arch, j],
        s=34,
        color=_ARCHIVE_COLOR,
        edgecolor="black",
        lw=0.5,
        zorder=4,
        label="archive (feasible, Pareto-optimal)",
    )


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


def _overview(data: ReportData) -> Section:
    import pandas as pd

    v, s = data.view, data.summary
    sec = Section("Study", "study")
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
        f"hypervolume {s['hypervolume']:.4f}. Report written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    rows = []
    for name, d, (lo, hi) in zip(v.objective_names, v.directions, v.bounds, strict=True):
        info = OBJECTIVE_INFO.get(name)
        b = data.baseline.values.get(name)
        rows.append(
            {
                "objective": name,
                "direction": d,
                "unit": info.unit if info else "?",
                "hypervolume bounds": f"[{lo:g}, {hi:g}]",
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


def _front(data: ReportData, out: Path, axes: Sequence[str] | None) -> Section:
    plt = _plt()
    v = data.view
    names = v.objective_names
    k = len(names)
    sec = Section("The front", "front")
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


def _column(data: ReportData, name: str) -> np.ndarray:
    if name in data.view.objective_names:
        return data.values[:, data.view.objective_names.index(name)]
    return np.array([r.objectives.get(name, np.nan) for r in data.complete], dtype=float)


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


def _hypervolume(data: ReportData, out: Path) -> Section:
    plt = _plt()
    sec = Section("Hypervolume", "hypervolume")
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
        "objective is mapped to [0, 1] between its bounds (table above), so 1 would be a "
        "model at the best bound of every objective."
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


def _composition(data: ReportData, out: Path) -> Section:
    import pandas as pd

    plt = _plt()
    sec = Section("What the archive is made of", "composition")
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


def _robustness(data: ReportData, out: Path) -> Section:
    import pandas as pd
    from matplotlib.colors import TwoSlopeNorm

    plt = _plt()
    sec = Section("Robustness of the front", "robustness")
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


def _extremes(data: ReportData) -> Section:
    import pandas as pd

    v = data.view
    sec = Section("Extremes and knee", "extremes")
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


def _importance(data: ReportData, out: Path, min_trials: int = 8) -> Section:
    import optuna
    import pandas as pd

    plt = _plt()
    sec = Section("Parameter importance", "importance")
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


def _proxies(data: ReportData, out: Path) -> Section:
    from moo_compress.proxy_report import (
        format_validity,
        plot_validity,
        proxy_points,
        proxy_validity,
    )

    sec = Section("Proxy validity", "proxies")
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


def _anova(data: ReportData) -> Section | None:
    import pandas as pd

    recorded = set(data.view.record) | {k for r in data.complete[:1] for k in r.objectives}
    if not seed001.is_design(data.view.searched, recorded):
        return None
    sec = Section("Seed 001 ANOVA", "anova")
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


# -- rendering -------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "-" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The report as Markdown, images referenced by file name.

    Args:
        title: The document's title.
        sections: The sections, in order.
    """
    parts = [f"# {title}", ""]
    parts += [f"- [{s.title}](#{s.anchor})" for s in sections] + [""]
    for s in sections:
        parts += [f'<a id="{s.anchor}"></a>', "", f"## {s.title}", ""]
        for block in s.blocks:
            kind = block[0]
            if kind == "text":
                parts += [block[1], ""]
            elif kind == "pre":
                parts += ["```text", block[1], "```", ""]
            elif kind == "table":
                parts += [_md_table(block[1]), ""]
            elif kind == "markdown":
                parts += [block[1].replace("\n## ", "\n### "), ""]
            elif kind == "image":
                parts += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(parts)


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _md_to_html(text: str) -> str:
    """The few Markdown forms the ANOVA tables use: headings, pipe tables, paragraphs."""
    out, table = [], []

    def flush():
        if table:
            head, *body = [
                row.strip().strip("|").split("|") for row in table if not set(row) <= set("|-")
            ]
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(c.strip())}</th>" for c in head)
                + "</tr></thead><tbody>"
            )
            out.extend(
                [
                    "<tr>" + "".join(f"<td>{_inline(c.strip())}</td>" for c in r) + "</tr>"
                    for r in body
                ]
            )
            out.append("</tbody></table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h3>{_inline(line[3:])}</h3>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;white-space:nowrap}th{background:#f3f3f3}
img{max-width:100%;height:auto;border:1px solid #eee}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}code{background:#f3f3f3;padding:0 .2em}
"""


def render_html(title: str, sections: Sequence[Section], folder: Path) -> str:
    """The report as one self-contained HTML page: every PNG embedded as a base64 data URI,
    no script, stylesheet or font loaded from anywhere.

    Args:
        title: The document's title.
        sections: The sections, in order.
        folder: Where the sections' PNG files are.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><ul>"
        + "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
        + "</ul></nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        for block in s.blocks:
            kind = block[0]
            if kind == "text":
                parts.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "pre":
                parts.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "table":
                frame = block[1]
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                    for row in frame.itertuples(index=False)
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "markdown":
                parts.append(_md_to_html(block[1]))
            elif kind == "image":
                data = base64.b64encode((folder / block[1]).read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                    f"<figcaption>{html.escape(block[2])} ({html.escape(block[1])})</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    view: StudyView,
    study: optuna.Study,
    out: Path,
    *,
    fmt: str = "both",
    axes: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the report of a study into the folder ``out``.

    Args:
        view: The study as searched (:func:`moo_compress.report.study_view`).
        study: The study (opened read-only).
        out: The report's folder (created; files of a previous report there are replaced).
        fmt: ``"md"`` (report.md and the PNG files), ``"html"`` (report.html alone) or
            ``"both"`` (default).
        axes: The 2 or 3 objectives of the 2-D and 3-D views (default None: the first
            optimized ones).
        log: Callable for progress messages (default None: silent).

    Returns:
        ``{"folder", "files", "archive_size", "sections"}``.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`, or ``axes`` names fewer than 2
            or more than 3 objectives, or one the trials do not record.
    """
    import shutil
    import tempfile

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}. Got {fmt!r} instead.")
    data = load_report_data(view, study)
    if axes is not None:
        recorded = set(view.objective_names) | {k for r in data.complete for k in r.objectives}
        bad = [a for a in axes if a not in recorded]
        if not 2 <= len(axes) <= 3 or bad:
            raise ValueError(
                f"axes must name 2 or 3 of the objectives the trials record "
                f"({', '.join(sorted(recorded))}). Got {','.join(axes)!r} instead."
            )
    say = log or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        sections = [_overview(data)]
        for name, build in (
            ("front", lambda: _front(data, work, axes)),
            ("hypervolume", lambda: _hypervolume(data, work)),
            ("composition", lambda: _composition(data, work)),
            ("robustness", lambda: _robustness(data, work)),
            ("extremes", lambda: _extremes(data)),
            ("importance", lambda: _importance(data, work)),
            ("proxies", lambda: _proxies(data, work)),
            ("anova", lambda: _anova(data)),
        ):
            say(f"report: {name}")
            sec = build()
            if sec is not None:
                sections.append(sec)
        title = f"moo-compress report: {view.name}"
        files = []
        images = [b[1] for s in sections for b in s.blocks if b[0] == "image"]
        if fmt in ("md", "both"):
            (work / "report.md").write_text(render_markdown(title, sections), encoding="utf-8")
            files.append("report.md")
            files += images + sorted(p.name for p in work.glob("*.csv"))
        if fmt in ("html", "both"):
            (work / "report.html").write_text(render_html(title, sections, work), encoding="utf-8")
            files.append("report.html")
        for name in files:
            (work / name).replace(out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "folder": out,
        "files": files,
        "archive_size": len(data.archive),
        "sections": [s.title for s in sections],
    }
