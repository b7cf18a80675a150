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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress.report import StudyView
from moo_compress.study_report._data import (
    Baseline,
    ReportData,
    ReportSection,
    constraint_limits,
    find_baseline,
    knee_index,
    load_report_data,
)
from moo_compress.study_report._render import render_html, render_markdown
from moo_compress.study_report._sections import (
    _anova,
    _composition,
    _extremes,
    _front,
    _hypervolume,
    _importance,
    _overview,
    _proxies,
    _robustness,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FORMATS",
    "Baseline",
    "ReportData",
    "ReportSection",
    "constraint_limits",
    "find_baseline",
    "knee_index",
    "load_report_data",
    "render_html",
    "render_markdown",
    "write_report",
]

FORMATS = ("md", "html", "both")


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


def __getattr__(name: str) -> Any:
    # ReportSection was called Section up to 0.1.0, the name of the settings reader's class
    # too; kept one release
    if name == "Section":
        import warnings

        warnings.warn(
            "moo_compress.study_report.Section is now ReportSection "
            "(this alias goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return ReportSection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
