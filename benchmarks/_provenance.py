"""Where every file under ``benchmarks/results/`` came from (issue 22).

One rule for every result: a sidecar ``<file>.meta.json`` next to it (a folder, such as a
study report, gets one ``<folder>.meta.json``) with

- ``commit``: the commit the code that wrote it was checked out at (``dirty``: whether the
  checkout had uncommitted changes then, outside ``benchmarks/results/``),
- ``command``: the exact command line,
- ``date``: when it was written (UTC, ISO 8601),
- ``machine``: the CPU cores (and platform and Python),
- ``recorded_after``: false when written by the benchmark itself; true for files written
  before provenance was recorded, whose sidecar was filled in later from git history (the
  commit that last wrote the file, its date, and the command the README or the script's
  docstring gives for it).

Every benchmark script calls :func:`record` for each file it writes.
``tests/test_benchmark_provenance.py`` checks that every result has its sidecar and that the
commit named exists in the repository's history.

    python benchmarks/_provenance.py backfill   # sidecars of results that have none (git history)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUFFIX = ".meta.json"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def sidecar(path: Path) -> Path:
    """The provenance file of a result file or folder: ``<name>.meta.json`` next to it.

    Args:
        path: The result file or folder.
    """
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as a user would type it from the repository's root.

    Args:
        argv: The arguments (default None: ``sys.argv``).
    """
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else None
    if script is not None and script.is_file():
        try:
            argv[0] = str(script.relative_to(ROOT))
        except ValueError:
            argv[0] = str(script)
        argv.insert(0, "python")
    return " ".join(shlex.quote(a) for a in argv)


def machine() -> dict:
    """The machine's CPU cores, platform and Python version."""
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def record(path: Path, command: str | None = None, **extra) -> Path:
    """Write the provenance sidecar of ``path`` (just written by a benchmark).

    Args:
        path: The result file or folder.
        command: The exact command (default None: this process's command line).
        extra: More keys for the sidecar (e.g. which parts were kept from an earlier run).

    Returns:
        The sidecar's path.
    """
    commit = _git("rev-parse", "HEAD")
    # results written by this or an earlier step of the same run are not code changes
    dirty = bool(
        _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    )
    if dirty:
        print(
            f"warning: {Path(path).name} written from a checkout with uncommitted changes "
            f"(commit {commit[:10]} + changes); commit the code and re-run for a clean record",
            file=sys.stderr,
        )
    resolved = Path(path).resolve()
    meta = {
        "file": str(resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved),
        "commit": commit,
        "dirty": dirty,
        "command": command or command_line(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "recorded_after": False,
        **extra,
    }
    out = sidecar(path)
    out.write_text(json.dumps(meta, indent=1) + "\n")
    return out


def previous(path: Path) -> dict | None:
    """What the sidecar of ``path`` says now (before the file is rewritten in part): where
    the parts a new run keeps came from. None when it has no sidecar.

    Args:
        path: The result file.
    """
    try:
        meta = json.loads(sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(meta.get("kept"), dict) and isinstance(meta["kept"].get("from"), dict):
        return meta["kept"]["from"]  # kept before as well: where they were measured
    return {k: meta.get(k) for k in ("commit", "command", "date", "machine", "recorded_after")}


def results() -> list[Path]:
    """Every result under ``benchmarks/results/``: files, and folders as a whole (sidecars
    and dot-files left out)."""
    return sorted(
        p for p in RESULTS.iterdir() if not p.name.endswith(SUFFIX) and not p.name.startswith(".")
    )


#: The command that wrote each result committed before provenance was recorded (from the
#: README and the scripts' docstrings).
COMMANDS = {
    "corruption_fidelity.json": "python benchmarks/corruption_fidelity.py "
    "/tmp/ref/ImageNet-C/create_c/make_cifar_c.py --reference-python /tmp/refenv/bin/python "
    "--label after --out benchmarks/results/corruption_fidelity.json",
    "corruption_throughput.json": "python benchmarks/corruption_throughput.py",
    "deeplift_cost.json": "python benchmarks/deeplift_cost.py",
    "detector_baseline.json": "python benchmarks/detector_baseline.py",
    "engine_overhead.json": "python benchmarks/engine_overhead.py",
    "latency_repeatability.json": "python benchmarks/latency_repeatability.py",
    "multi_fidelity.json": "python benchmarks/multi_fidelity.py replay",
    "multi_fidelity.png": "python benchmarks/multi_fidelity.py replay",
    "multi_fidelity_costs.json": "python benchmarks/multi_fidelity.py costs",
    "multi_fidelity_quickstart.json": "python benchmarks/multi_fidelity.py real",
    "multi_fidelity_subset_mce.parquet": "python benchmarks/multi_fidelity.py subset-table",
    "multi_fidelity_tau.json": "python benchmarks/multi_fidelity.py tau",
    "pruning_latency.json": "python benchmarks/pruning_latency.py",
    "quickstart_optimism_gap.json": "python benchmarks/optimism_gap.py",
    "quickstart_pareto.csv": "moo-compress search studies/quickstart.yaml && moo-compress "
    "pareto studies/quickstart.yaml --format csv > benchmarks/results/quickstart_pareto.csv",
    "quickstart_proxy_validity.csv": "moo-compress report studies/quickstart.yaml --proxy "
    "--out DIR (DIR/proxy_validity.csv saved as quickstart_proxy_validity.csv)",
    "quickstart_proxy_validity.png": "moo-compress report studies/quickstart.yaml --proxy "
    "--out DIR (DIR/proxy_validity.png saved as quickstart_proxy_validity.png)",
    "report-quickstart": "moo-compress report studies/quickstart.yaml "
    "--out benchmarks/results/report-quickstart",
    "robustness_costs.json": "python benchmarks/robustness_costs.py",
    "scale.json": "python benchmarks/scale.py --sizes 100,1000,10000 --new 20 "
    "(MOO_COMPRESS_TEST_POSTGRES set for PostgreSQL)",
    "search_efficiency.json": "python benchmarks/search_efficiency.py replay",
    "search_efficiency.png": "python benchmarks/search_efficiency.py replay",
    "search_efficiency_proxy_validity.csv": "python benchmarks/search_efficiency.py replay",
    "search_efficiency_table.parquet": "python benchmarks/search_efficiency.py table",
    "search_efficiency_baseline.json": "python benchmarks/search_efficiency.py table",
    "seed000_catalog.csv": "moo-compress search studies/seed000_catalog.yaml && moo-compress "
    "pareto studies/seed000_catalog.yaml --all --format csv > "
    "benchmarks/results/seed000_catalog.csv",
    "seed001_anova.csv": "moo-compress search studies/seed001_pruning.yaml && python "
    "benchmarks/seed001_anova.py studies/seed001_pruning.yaml",
    "seed002_datafree.csv": "python benchmarks/seed002_datafree.py",
    "workers_scale.json": "python benchmarks/workers_scale.py",
    "workers_speedup.json": "python benchmarks/workers_speedup.py",
}
for _name in ("seed001_cells.csv", "seed001_pruning.png", "seed001_summary.md"):
    COMMANDS[_name] = COMMANDS["seed001_anova.csv"]
for _name in ("seed002_datafree.md", "seed002_datafree.png"):
    COMMANDS[_name] = COMMANDS["seed002_datafree.csv"]
for _name in (
    "no-random-after-duplicate",
    "pymoo-random-parents",
    "random-after-first-duplicate",
):
    for _ext in ("json", "png"):
        COMMANDS[f"search_efficiency_ablated_{_name}.{_ext}"] = (
            f"python benchmarks/search_efficiency.py replay --ablate {_name}"
        )


#: What a command meant when it ran, where its defaults have changed since.
COMMAND_NOTES = {
    **dict.fromkeys(
        [k for k in COMMANDS if k.startswith("search_efficiency") and "replay" in COMMANDS[k]],
        "seeds then: 20 (0-19), the default of the time; today's equivalent adds "
        "--seeds 20 --first-seed 0",
    ),
    **dict.fromkeys(
        ["multi_fidelity.json", "multi_fidelity.png"],
        "seeds then: 20 (0-19), the default of the time; today's equivalent adds "
        "--seeds 20 --first-seed 0",
    ),
    "multi_fidelity_quickstart.json": "then: pymoo-nsga2 (32 trials) against mo-asha, one "
    "seed (the study's, 0); today `real` compares the quick start's optuna-tpe, 3 seeds",
}


def backfill() -> list[Path]:
    """Write the sidecar of every result that has none, from git history: the commit that
    last wrote it (for a folder, any file in it), its date, the command of :data:`COMMANDS`,
    this machine's cores, and ``recorded_after: true``."""
    written = []
    for path in results():
        if sidecar(path).exists():
            continue
        if path.name not in COMMANDS:
            raise SystemExit(f"{path.name}: no command known; add it to COMMANDS")
        rel = str(path.relative_to(ROOT))
        line = _git("log", "-1", "--format=%H%x09%cI", "--", rel)
        if not line:
            raise SystemExit(f"{rel}: not committed yet; record it when writing it instead")
        commit, date = line.split("\t")
        meta = {
            "file": rel,
            "commit": commit,
            "dirty": None,
            "command": COMMANDS[path.name],
            "date": date,
            "machine": {"cores": 2, "note": "this 2-core machine (recorded later)"},
            "recorded_after": True,
            **({"command_note": COMMAND_NOTES[path.name]} if path.name in COMMAND_NOTES else {}),
            "note": "written before provenance was recorded: the commit is the one that last "
            "wrote the file (git log -1 -- FILE), the date that commit's, the command the "
            "README or the script's docstring gives for it",
        }
        sidecar(path).write_text(json.dumps(meta, indent=1) + "\n")
        written.append(sidecar(path))
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["backfill"]:
        raise SystemExit("usage: python benchmarks/_provenance.py backfill")
    for p in backfill():
        print(p.relative_to(ROOT))
