"""What a report is made of: the study's trials, its baseline, the constraints' edges, the knee point."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress import storage as st
from moo_compress.archive import pareto_indices
from moo_compress.report import StudyView, status
from moo_compress.settings import Constraint

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from moo_compress.record import TrialRecord

__all__ = [
    "Baseline",
    "ReportData",
    "ReportSection",
    "constraint_limits",
    "find_baseline",
    "knee_index",
    "load_report_data",
]


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
class ReportSection:
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
