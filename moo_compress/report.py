"""Read-only views of a study: status, Pareto archive table.

They read the study as it was searched (:class:`StudyView`, from what the study stores),
so they need no study file and agree with each other even when the file changed since.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress import record
from moo_compress import storage as st
from moo_compress.archive import normalized_hypervolume, pareto_indices
from moo_compress.compression.params import CONFIG_COLUMNS, config_row
from moo_compress.corruptions.parameters import PARAMETER_SETS
from moo_compress.objectives import task_objectives
from moo_compress.progress import hv_chart

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from moo_compress.settings import StudyConfig

__all__ = [
    "StudyView",
    "archive_shares",
    "format_shares",
    "format_status",
    "format_table",
    "pareto_frame",
    "pareto_records",
    "rung_counts",
    "rung_status",
    "status",
    "study_view",
]


@dataclass
class StudyView:
    """A study as it was searched, read from its ``moo_compress`` record: what the read-only
    commands need (the attributes they use of a ``StudyConfig``).

    Args:
        name: The study's name.
        driver: The driver that searched it (``"?"`` when not recorded).
        n_trials: The budget of the last search or worker (None when unknown).
        objective_names: The objectives searched.
        directions: ``"minimize"`` or ``"maximize"`` for each objective.
        bounds: ``(low, high)`` of each objective, for the hypervolume (as stored with
            the study: :func:`moo_compress.storage.hypervolume_bounds`).
        task: ``"classification"`` or ``"detection"``.
        arch: The study's architecture.
        cache_dir: The study's cache folder.
        searched: The searched variables.
        per_layer: The variables searched per layer.
        archs: The architectures the study could use.
        record: The objectives each trial records (searched or not).
        budget_seconds: ``budget.seconds`` of the last search or worker (None: none).
        constraints: The study's constraints as stored (``objective``, ``kind``, ``bound``).
        bounds_source: Where each objective's bounds come from (``"study file"``,
            ``"default"``, ``"derived"``: :func:`moo_compress.storage.bounds_sources`).
    """

    name: str
    driver: str
    n_trials: int | None
    objective_names: list[str]
    directions: list[str]
    bounds: list[tuple[float, float]]
    task: str
    arch: str
    cache_dir: Path
    searched: list[str] = field(default_factory=list)
    per_layer: list[str] = field(default_factory=list)
    archs: list[str] = field(default_factory=list)
    record: list[str] = field(default_factory=list)
    budget_seconds: float | None = None
    constraints: list[dict[str, Any]] = field(default_factory=list)
    bounds_source: list[str] = field(default_factory=list)


def study_view(
    study: optuna.Study, meta: dict[str, Any], cfg: StudyConfig | None = None
) -> StudyView:
    """The view of ``study`` from its record ``meta``; for a study recorded before the
    record held the space and the budget, those come from ``cfg`` (the study file) when
    given, else from the trials.

    Args:
        study: The study.
        meta: Its ``moo_compress`` record (the study's user attribute).
        cfg: The study file's configuration, if there is one (default None).
    """
    ev = meta.get("evaluation", {})
    budget = study.user_attrs.get("budget") or {}
    space = meta.get("space")
    if space is None and cfg is not None:
        space = {
            "searched": [v.name for v in cfg.space.searched],
            "per_layer": list(cfg.space.per_layer),
            "archs": cfg.space.archs(cfg.arch),
        }
    if space is None:  # from the trials: every parameter a trial was asked for
        names: dict[str, None] = {}
        archs: dict[str, None] = {}
        for t in study.get_trials(deepcopy=False):
            names.update(dict.fromkeys(k for k in t.params if "@" not in k))
            archs.update(dict.fromkeys([record.config(t, {}).get("arch")]))
        archs.pop(None, None)
        space = {"searched": list(names), "per_layer": [], "archs": list(archs)}
    arch = ev.get("arch", "small_cnn")
    n_trials = budget.get("n_trials")
    if n_trials is None and cfg is not None:
        n_trials = cfg.n_trials
    return StudyView(
        name=study.study_name,
        driver=meta.get("driver", "?"),
        n_trials=n_trials,
        objective_names=list(meta["objectives"]),
        directions=list(meta["directions"]),
        bounds=st.hypervolume_bounds(meta),
        bounds_source=st.bounds_sources(meta),
        task=ev.get("task", "classification"),
        arch=arch,
        cache_dir=Path(meta.get("cache_dir", ".")),
        searched=list(space["searched"]),
        per_layer=list(space["per_layer"]),
        archs=list(space["archs"]) or [arch],
        record=list(ev.get("record", [])),
        budget_seconds=budget.get("seconds", cfg.budget_seconds if cfg is not None else None),
        constraints=list(meta.get("settings", {}).get("constraints", [])),
    )


def _fail_kind(reason: str) -> str:
    """How a failed trial counts: ``failed`` (its evaluation failed) or a proposal that was
    never evaluated: interrupted, duplicate, skipped (budget met), abandoned (its worker
    stopped before its first heartbeat)."""
    if reason == record.INTERRUPTED:
        return "interrupted"
    if reason.startswith(record.DUPLICATE):
        return "duplicates"
    if reason.startswith(record.SKIPPED):
        return "skipped"
    if reason.startswith(record.ABANDONED):
        return "abandoned"
    return "failed"


def status(view: StudyView | StudyConfig, study: optuna.Study) -> dict[str, Any]:
    """Counts, generation, budget and the archive of ``study`` (``view``: a
    :class:`StudyView` or a study configuration). The archive size and hypervolume are
    those of the completed trials now, computed as ``pareto`` does; the history is what the
    search recorded.

    Args:
        view: The study as searched (name, driver, budget, objectives, directions, bounds).
        study: The study.

    Returns:
        What :func:`format_status` prints: trial counts by state and by failure kind, the
        latest generation, the archive size and hypervolume, and the recorded history.
    """
    from optuna.trial import TrialState

    counts = {
        s.name.lower(): 0
        for s in (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    }
    kinds = dict.fromkeys(("failed", "interrupted", "duplicates", "skipped", "abandoned"), 0)
    generation = None
    seconds = 0.0
    infeasible = 0
    records = st.records(study)
    for r in records:
        name = r.state.lower()
        counts[name] = counts.get(name, 0) + 1
        seconds += record.evaluation_seconds(r)
        if r.state == "COMPLETE" and not r.feasible:
            infeasible += 1
        if r.state == "FAIL":
            kinds[_fail_kind(record.fail_reason(r))] += 1
        gen = record.generation(r)
        if gen is None:
            gen = r.sampler_generation
        if gen is not None:
            generation = gen if generation is None else max(generation, gen)
    history = st.hv_history(study)
    rungs = rung_counts(records)
    archive = pareto_records(view, study, with_values=True)
    values = np.array([v for _, v in archive], dtype=float).reshape(-1, len(view.objective_names))
    bounds, source = _stored_bounds(view, study)
    out = {
        "study": view.name,
        "driver": view.driver,
        "budget": view.n_trials,
        "complete": counts["complete"],
        "infeasible": infeasible,
        "seconds_used": seconds,
        "budget_seconds": getattr(view, "budget_seconds", None),
        "failed": kinds["failed"],
        "interrupted": kinds["interrupted"],
        "duplicates_skipped": kinds["duplicates"],
        "skipped": kinds["skipped"],
        "abandoned": kinds["abandoned"],
        "running": counts["running"],
        "waiting": counts["waiting"],
        "generation": generation,
        "archive_size": len(archive),
        "hypervolume": normalized_hypervolume(values, view.directions, bounds),
        "hv_bounds": [
            {"objective": n, "bounds": list(b), "source": src}
            for n, b, src in zip(view.objective_names, bounds, source, strict=True)
        ],
        "hv_history": history,
    }
    if rungs is not None:  # a multi-fidelity study only: other drivers' summary unchanged
        out["rungs"] = rungs
    parameters = study.user_attrs.get(st.CORRUPTION_PARAMETERS)
    if parameters is not None:  # the set its corrupted images are made with
        out["corruption_parameters"] = parameters
    return out


def _stored_bounds(
    view: StudyView | StudyConfig, study: optuna.Study
) -> tuple[list[tuple[float, float]], list[str]]:
    """The hypervolume bounds stored with the study and their sources (a view has them; a
    study configuration reads them from the study's record)."""
    if isinstance(view, StudyView):
        source = view.bounds_source or ["study file or default"] * len(view.bounds)
        return list(view.bounds), list(source)
    meta = st.study_meta(study.user_attrs)
    if isinstance(meta, dict) and "bounds" in meta:
        return st.hypervolume_bounds(meta), st.bounds_sources(meta)
    return [tuple(o.bounds) for o in view.objectives], ["study file or default"] * len(
        view.objectives
    )


def _bounds_line(s: dict[str, Any]) -> str:
    """``status``'s line of the hypervolume's normalization bounds and where they come from."""
    parts = [
        f"{b['objective']} [{b['bounds'][0]:.4g}, {b['bounds'][1]:.4g}] ({b['source']})"
        for b in s["hv_bounds"]
    ]
    return "hv bounds   " + ", ".join(parts)


def rung_counts(records: list[record.TrialRecord]) -> dict[str, Any] | None:
    """Per-rung counts of a multi-fidelity (``mo-asha``) study, or None when no trial of
    it carries a rung (:func:`moo_compress.record.rung`).

    Args:
        records: The study's trial records (:func:`moo_compress.storage.records`).

    Returns:
        ``{"top": R, "per_rung": [{"rung", "done", "running", "failed"}, ...] (rungs 0..R),
        "lower_seconds", "top_seconds"}``: ``done`` counts the configurations that
        finished the rung (PRUNED below the top, COMPLETE at it), ``failed`` the rung
        evaluations that failed (proposals never evaluated are not counted), and the
        seconds are the evaluation seconds spent below the top rung and at it.
    """
    trials = [(r, record.rung(r)) for r in records]
    trials = [(t, info) for t, info in trials if info is not None]
    if not trials:
        return None
    top = max(int(info["top"]) for _, info in trials)
    per_rung = [{"rung": r, "done": 0, "running": 0, "failed": 0} for r in range(top + 1)]
    lower = upper = 0.0
    for t, info in trials:
        r = int(info["rung"])
        state = t.state
        if state in ("PRUNED", "COMPLETE"):
            per_rung[r]["done"] += 1
        elif state == "RUNNING":
            per_rung[r]["running"] += 1
        elif state == "FAIL" and _fail_kind(record.fail_reason(t)) == "failed":
            per_rung[r]["failed"] += 1
        seconds = record.evaluation_seconds(t)
        if r >= top:
            upper += seconds
        else:
            lower += seconds
    return {"top": top, "per_rung": per_rung, "lower_seconds": lower, "top_seconds": upper}


def _rung_line(rungs: dict[str, Any]) -> str:
    """``status``'s line of a multi-fidelity study: how many configurations finished each
    rung (and how many run it or failed there)."""
    parts = []
    for c in rungs["per_rung"]:
        if c["rung"] == rungs["top"]:
            text = f"{c['rung']} (full): {c['done']} complete"
        else:
            text = f"{c['rung']}: {c['done']} done"
        if c["running"]:
            text += f" + {c['running']} running"
        if c["failed"]:
            text += f" + {c['failed']} failed"
        parts.append(text)
    return "rungs       " + ", ".join(parts)


def _rung_time_line(rungs: dict[str, Any]) -> str:
    """``status``'s split of the evaluation time of a multi-fidelity study."""
    return (
        f"            {rungs['lower_seconds']:.0f} s of it on the lower rungs, "
        f"{rungs['top_seconds']:.0f} s on the top rung (full evaluations)"
    )


def _time_line(s: dict[str, Any]) -> str:
    used = s.get("seconds_used", 0.0)
    limit = s.get("budget_seconds")
    if limit is None:
        return f"time        {used:.0f} s of evaluation used (no budget.seconds)"
    return (
        f"time        {used:.0f} s of evaluation used of budget.seconds {limit:.0f} s"
        f" ({max(0.0, limit - used):.0f} s left)"
    )


def _parameters_line(name: str) -> str:
    """``status``'s line of the corruption parameter set (see
    :mod:`moo_compress.corruptions.parameters`)."""
    p = PARAMETER_SETS.get(name)
    made = f" ({p.title}'s, made for {p.image_size}x{p.image_size} by {p.script})" if p else ""
    return f"corruptions {name} parameters{made}"


def format_status(s: dict[str, Any]) -> str:
    """The ``status`` command's text.

    Args:
        s: What :func:`status` returns.
    """
    budget = "?" if s["budget"] is None else s["budget"]
    lines = [
        f"study       {s['study']}  (driver {s['driver']})",
        f"budget      {budget} completed trials (n_trials of the last search or worker)",
        f"trials      {s['complete']}/{budget} complete, {s['failed']} failed, {s['running']} running"
        + (
            f", {s['infeasible']} complete but infeasible (outside the constraints)"
            if s.get("infeasible")
            else ""
        )
        + (f", {s['interrupted']} interrupted" if s["interrupted"] else "")
        + (
            f", {s['duplicates_skipped']} duplicate proposals skipped"
            if s["duplicates_skipped"]
            else ""
        )
        + (
            f", {s['skipped']} proposals skipped (budget met by running trials)"
            if s.get("skipped")
            else ""
        )
        + (
            f", {s['abandoned']} abandoned (worker stopped before its first heartbeat)"
            if s.get("abandoned")
            else ""
        ),
        *([_rung_line(s["rungs"])] if s.get("rungs") else []),
        _time_line(s),
        *([_rung_time_line(s["rungs"])] if s.get("rungs") else []),
        f"generation  {s['generation'] if s['generation'] is not None else '-'}",
        f"archive     {s['archive_size']} Pareto-optimal models, normalized hypervolume {s['hypervolume']:.4f}",
        *([_bounds_line(s)] if s.get("hv_bounds") else []),
        *([_parameters_line(s["corruption_parameters"])] if s.get("corruption_parameters") else []),
        "",
        "hypervolume history",
        f"  {'trials':>6}  {'gen':>4}  {'archive':>7}  {'hv':>8}",
    ]
    for h in s["hv_history"]:
        gen = "-" if h.get("generation") is None else str(h["generation"])
        lines.append(f"  {h['n_complete']:>6}  {gen:>4}  {h['archive_size']:>7}  {h['hv']:>8.4f}")
    if not s["hv_history"]:
        lines.append("  (none recorded yet)")
    elif len(s["hv_history"]) > 1:
        lines += ["", "hypervolume over completed trials", *hv_chart(s["hv_history"])]
    return "\n".join(lines)


def pareto_records(
    view: StudyView | StudyConfig,
    study: optuna.Study,
    *,
    with_values: bool = False,
    include_infeasible: bool = False,
) -> list:
    """The Pareto-optimal feasible completed trials by number (``with_values``: pairs of the
    record and its objective vector).

    Only trials that recorded every objective of ``view`` and meet the study's constraints
    count.

    Args:
        view: The study as searched (its objective names and directions are used).
        study: The study.
        with_values: Return ``(record, values)`` pairs instead of records (default False).
        include_infeasible: Count the trials that violate the constraints too: the front of
            every completed trial (default False).
    """
    from optuna.trial import TrialState

    recs = [r for r in st.records(study, states=(TrialState.COMPLETE,))]
    recs = [
        r
        for r in recs
        if (r.feasible or include_infeasible)
        and all(name in r.objectives for name in view.objective_names)
    ]
    if not recs:
        return []
    values = np.array([[r.objectives[n] for n in view.objective_names] for r in recs])
    chosen = sorted(pareto_indices(values, view.directions), key=lambda i: recs[i].number)
    if with_values:
        return [(recs[i], list(values[i])) for i in chosen]
    return [recs[i] for i in chosen]


def pareto_frame(
    view: StudyView | StudyConfig, study: optuna.Study, *, all_trials: bool = False
) -> pd.DataFrame:
    """The current Pareto archive (or every completed trial) as a DataFrame: trial, every
    variable, every objective.

    Args:
        view: The study as searched (objectives, directions, task and architecture).
        study: The study.
        all_trials: Every completed trial instead of the archive (default False); in a
            multi-fidelity study also every lower-rung evaluation (PRUNED trials).

    Returns:
        Columns ``trial``, ``arch``, the configuration columns, every objective of the
        study's task (None where a trial did not record it) and, with ``all_trials``,
        ``feasible`` and ``violation`` (0 when the trial meets every constraint). With
        ``all_trials`` in a study whose trials carry rungs (``mo-asha``), also ``rung``
        (``"r/R"``), ``status`` and ``promoted_to`` after ``trial``: see :func:`rung_status`
        (lower rungs hold only the objectives known there, None for the others).
    """
    import pandas as pd
    from optuna.trial import TrialState

    rungs = all_trials and _has_rungs(study)
    status_of: dict[int, dict[str, Any]] = {}
    if rungs:
        trials = study.get_trials(deepcopy=False)
        promoted = _promotions(trials)
        listed = sorted(
            (
                t
                for t in trials
                if t.state == TrialState.COMPLETE
                or (t.state == TrialState.PRUNED and record.rung(t) is not None)
            ),
            key=lambda t: t.number,
        )
        # a lower rung's objectives are those known there (``read`` keeps complete ones)
        recs = [
            dataclasses.replace(
                record.read(t),
                objectives=record.objectives(t) if record.has_objectives(t) else {},
            )
            for t in listed
        ]
        status_of = {t.number: rung_status(t, promoted) for t in listed}
    elif all_trials:
        recs = st.records(study, states=(TrialState.COMPLETE,))
    else:
        recs = pareto_records(view, study)
    objectives = task_objectives(view.task)
    rows = []
    for r in recs:
        row: dict[str, Any] = {"trial": r.number}
        if rungs:
            row.update(status_of[r.number])
        row["arch"] = r.config.get("arch", view.arch)
        row.update(config_row(r.config))
        row.update({name: r.objectives.get(name) for name in objectives})
        if all_trials:
            row.update({"feasible": r.feasible, "violation": r.violation})
        rows.append(row)
    columns = ["trial", *(RUNG_COLUMNS if rungs else ()), "arch", *CONFIG_COLUMNS, *objectives]
    if all_trials:
        columns += ["feasible", "violation"]
    frame = pd.DataFrame(rows, columns=columns)
    if rungs:  # trial numbers and None, not floats
        numbers = [row["promoted_to"] for row in rows]
        frame["promoted_to"] = pd.Series(numbers, index=frame.index, dtype=object)
    return frame


#: The columns ``pareto --all`` adds for a multi-fidelity study (after ``trial``).
RUNG_COLUMNS = ("rung", "status", "promoted_to")


def _has_rungs(study: optuna.Study) -> bool:
    """Whether a trial of ``study`` carries a rung (a multi-fidelity study)."""
    return any(record.rung(t) is not None for t in study.get_trials(deepcopy=False))


def _promotions(trials) -> dict[int, Any]:
    """``{trial number: the FrozenTrial of its promotion}``: the latest trial whose
    ``promoted_from`` is that number and that was or is being evaluated (a finished, running
    or failed evaluation; proposals never evaluated, e.g. a duplicate claim or an
    interrupted promotion, do not count)."""
    out: dict[int, Any] = {}
    for t in sorted(trials, key=lambda t: t.number):
        info = record.rung(t)
        if info is None or info.get("promoted_from") is None:
            continue
        if t.state.name == "FAIL" and _fail_kind(record.fail_reason(t)) != "failed":
            continue
        if t.state.name in ("COMPLETE", "PRUNED", "RUNNING", "FAIL"):
            out[int(info["promoted_from"])] = t
    return out


def rung_status(trial: optuna.trial.FrozenTrial, promoted: dict[int, Any]) -> dict[str, Any]:
    """The ``rung``, ``status`` and ``promoted_to`` columns of one rung evaluation.

    ``status``: ``"complete"`` (the top rung: a full evaluation), ``"promoted"`` (a later
    trial measured the configuration's next rung), ``"promoting"`` (that trial runs),
    ``"promotion failed"`` (that trial's evaluation failed) or ``"stopped"`` (not promoted:
    the configuration stopped at this rung, so far). ``promoted_to``: that later trial's
    number (None when stopped or complete).

    Args:
        trial: The trial (COMPLETE, or PRUNED below the top rung).
        promoted: :func:`_promotions` of the study.
    """
    info = record.rung(trial)
    if info is None:  # a complete trial without a rung (not searched by a rung driver)
        return {"rung": "", "status": "complete", "promoted_to": None}
    label = f"{info['rung']}/{info['top']}"
    if trial.state.name == "COMPLETE":
        return {"rung": label, "status": "complete", "promoted_to": None}
    nxt = promoted.get(trial.number)
    if nxt is None:
        return {"rung": label, "status": "stopped", "promoted_to": None}
    status = {"RUNNING": "promoting", "FAIL": "promotion failed"}.get(nxt.state.name, "promoted")
    return {"rung": label, "status": status, "promoted_to": nxt.number}


def archive_shares(
    frame: pd.DataFrame, columns: tuple[str, ...] = ("arch", "technique")
) -> dict[str, list[tuple[str, int, float]]]:
    """How the archive divides among architectures and techniques (seed 000 reports, e.g.,
    ResNet-50 71 %, VGG-19 29 %, MobileNetV2 0 %): ``{column: [(value, count, share)]}``,
    largest first.

    Args:
        frame: :func:`pareto_frame`'s table.
        columns: The columns to count (default ``("arch", "technique")``).
    """
    n = len(frame)
    out = {}
    for col in columns:
        counts = frame[col].value_counts(sort=False) if n else {}
        items = sorted(
            ((str(k), int(v)) for k, v in dict(counts).items()), key=lambda kv: (-kv[1], kv[0])
        )
        out[col] = [(k, v, v / n) for k, v in items]
    return out


def format_shares(shares: dict[str, list[tuple[str, int, float]]], archs: list[str]) -> str:
    """Share lines; architectures the study could use but that are absent show as 0 %.

    Args:
        shares: What :func:`archive_shares` returns.
        archs: The architectures the study could use.
    """
    lines = []
    for col, items in shares.items():
        present = {k for k, _, _ in items}
        missing = [(a, 0, 0.0) for a in archs if a not in present] if col == "arch" else []
        parts = [f"{k} {share:.0%} ({count})" for k, count, share in [*items, *missing]]
        lines.append(f"{'architectures' if col == 'arch' else col + 's'}: " + ", ".join(parts))
    return "\n".join(lines)


def format_table(frame: pd.DataFrame, *, blank_missing: bool = False) -> str:
    """A table as text, floats with 4 decimals (a note when it is empty).

    Args:
        frame: :func:`pareto_frame`'s table.
        blank_missing: Show missing values (None, NaN) as empty cells (default False:
            as pandas prints them).
    """
    import pandas as pd

    if frame.empty:
        return "(empty archive: no completed trial yet)"
    floats = {c: (lambda v: f"{v:.4f}") for c in frame.columns if frame[c].dtype.kind == "f"}
    if blank_missing:
        frame = frame.copy()
        for c in frame.columns:
            if c not in floats and frame[c].dtype.kind == "O":
                cells = [
                    "" if v is None or (isinstance(v, float) and v != v) else v for v in frame[c]
                ]
                frame[c] = pd.Series(cells, index=frame.index, dtype=object)
        return frame.to_string(index=False, formatters=floats, na_rep="")
    return frame.to_string(index=False, formatters=floats)
