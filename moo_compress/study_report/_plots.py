"""Plot helpers shared by the report's sections (matplotlib, Agg backend only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moo_compress.objectives import OBJECTIVE_INFO
from moo_compress.report import StudyView
from moo_compress.study_report._data import ReportData

__all__: list[str] = []


_DPI = 100
_ARCHIVE_COLOR = "tab:blue"
_FADED = "0.6"
_INFEASIBLE = "tab:red"


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


def _column(data: ReportData, name: str) -> np.ndarray:
    if name in data.view.objective_names:
        return data.values[:, data.view.objective_names.index(name)]
    return np.array([r.objectives.get(name, np.nan) for r in data.complete], dtype=float)
