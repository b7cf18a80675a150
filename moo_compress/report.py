"""Read-only views of a study: status, Pareto archive table."""

from __future__ import annotations

from typing import Any

import numpy as np

from moo_compress import storage as st
from moo_compress.archive import pareto_indices
from moo_compress.compression.params import CONFIG_COLUMNS, config_row
from moo_compress.objectives import task_objectives


def status(cfg, study) -> dict[str, Any]:
    from optuna.trial import TrialState

    counts = {
        s.name.lower(): 0
        for s in (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    }
    interrupted = duplicates = 0
    generation = None
    for t in study.get_trials(deepcopy=False):
        name = t.state.name.lower()
        counts[name] = counts.get(name, 0) + 1
        reason = t.user_attrs.get("fail_reason", "")
        interrupted += reason == st.INTERRUPTED
        duplicates += reason.startswith("duplicate")
        gen = t.user_attrs.get("generation")
        if gen is None:
            gen = next((v for k, v in t.system_attrs.items() if k.endswith(":generation")), None)
        if gen is not None:
            generation = gen if generation is None else max(generation, gen)
    history = st.hv_history(study)
    return {
        "study": cfg.name,
        "driver": cfg.driver,
        "budget": cfg.n_trials,
        "complete": counts["complete"],
        "failed": counts["fail"] - interrupted - duplicates,
        "interrupted": interrupted,
        "duplicates_skipped": duplicates,
        "running": counts["running"],
        "generation": generation,
        "archive_size": history[-1]["archive_size"] if history else 0,
        "hypervolume": history[-1]["hv"] if history else 0.0,
        "hv_history": history,
    }


def format_status(s: dict[str, Any]) -> str:
    lines = [
        f"study       {s['study']}  (driver {s['driver']})",
        f"trials      {s['complete']}/{s['budget']} complete, {s['failed']} failed, {s['running']} running"
        + (f", {s['interrupted']} interrupted" if s["interrupted"] else "")
        + (
            f", {s['duplicates_skipped']} duplicate proposals skipped"
            if s["duplicates_skipped"]
            else ""
        ),
        f"generation  {s['generation'] if s['generation'] is not None else '-'}",
        f"archive     {s['archive_size']} Pareto-optimal models, normalized hypervolume {s['hypervolume']:.4f}",
        "",
        "hypervolume history",
        f"  {'trials':>6}  {'gen':>4}  {'archive':>7}  {'hv':>8}",
    ]
    for h in s["hv_history"]:
        gen = "-" if h.get("generation") is None else str(h["generation"])
        lines.append(f"  {h['n_complete']:>6}  {gen:>4}  {h['archive_size']:>7}  {h['hv']:>8.4f}")
    if not s["hv_history"]:
        lines.append("  (no completed trial yet)")
    return "\n".join(lines)


def pareto_records(cfg, study) -> list[st.TrialRecord]:
    from optuna.trial import TrialState

    recs = [r for r in st.records(study, states=(TrialState.COMPLETE,))]
    recs = [
        r
        for r in recs
        if all(name in r.attrs.get("objectives", {}) for name in cfg.objective_names)
    ]
    if not recs:
        return []
    values = np.array([[r.attrs["objectives"][n] for n in cfg.objective_names] for r in recs])
    return [
        recs[i]
        for i in sorted(pareto_indices(values, cfg.directions), key=lambda i: recs[i].number)
    ]


def pareto_frame(cfg, study, *, all_trials: bool = False):
    """The current Pareto archive (or every completed trial) as a DataFrame: trial, every
    variable, every objective."""
    import pandas as pd
    from optuna.trial import TrialState

    if all_trials:
        recs = st.records(study, states=(TrialState.COMPLETE,))
    else:
        recs = pareto_records(cfg, study)
    objectives = task_objectives(cfg.task)
    rows = []
    for r in recs:
        row: dict[str, Any] = {"trial": r.number, "arch": r.config.get("arch", cfg.arch)}
        row.update(config_row(r.config))
        row.update({name: r.attrs["objectives"].get(name) for name in objectives})
        rows.append(row)
    columns = ["trial", "arch", *CONFIG_COLUMNS, *objectives]
    return pd.DataFrame(rows, columns=columns)


def archive_shares(frame, columns=("arch", "technique")) -> dict[str, list[tuple[str, int, float]]]:
    """How the archive divides among architectures and techniques (seed 000 reports, e.g.,
    ResNet-50 71 %, VGG-19 29 %, MobileNetV2 0 %): ``{column: [(value, count, share)]}``,
    largest first."""
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
    """Share lines; architectures the study could use but that are absent show as 0 %."""
    lines = []
    for col, items in shares.items():
        present = {k for k, _, _ in items}
        missing = [(a, 0, 0.0) for a in archs if a not in present] if col == "arch" else []
        parts = [f"{k} {share:.0%} ({count})" for k, count, share in [*items, *missing]]
        lines.append(f"{'architectures' if col == 'arch' else col + 's'}: " + ", ".join(parts))
    return "\n".join(lines)


def format_table(frame) -> str:
    if frame.empty:
        return "(empty archive: no completed trial yet)"
    floats = {c: (lambda v: f"{v:.4f}") for c in frame.columns if frame[c].dtype.kind == "f"}
    return frame.to_string(index=False, formatters=floats)
