"""Database share of 4 evaluation-bound workers on a study of 1,000 trials, on a real
PostgreSQL server (issue 17: under 2 % of the workers' time).

    python benchmarks/workers_scale.py            # starts a throw-away server (.ci/postgres.sh)
    python benchmarks/workers_scale.py --storage postgresql+psycopg://user:pw@host/db

The study of ``benchmarks/workers_speedup.py`` (optuna-random, fine-tuning 2 epochs per
stage) is created by one real trial, then filled with ``--stored`` copies of it (unique
configuration keys, so every worker reads and counts them as real trials), and 4 ``worker``
processes, one thread each, add ``--new`` trials. This machine has 2 cores, so 4 workers are
CPU-bound: what matters here is the database share, time in the worker loop that is neither
evaluation nor waiting for the other workers' last trials, divided by the loop time. The
same is measured at ``--small`` stored trials for comparison. Writes
``benchmarks/results/workers_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from scale import unique_copies  # noqa: E402
from workers_speedup import _study, postgres  # noqa: E402


def _fill(study_path: Path, storage: str, n: int) -> None:
    """Run one real trial, then store ``n - 1`` copies of it with unique keys."""
    import optuna

    from moo_compress.config import load_study_config

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "moo_compress", "search", str(study_path), "--storage", storage]
        + ["--n-trials", "1", "--no-progress"],
        check=True,
        capture_output=True,
        env=env,
    )
    cfg = load_study_config(study_path, storage=storage)
    study = optuna.load_study(study_name=cfg.name, storage=storage)
    (first,) = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    copies = unique_copies([first], n - 1, suffix="-copy")
    study.add_trials(copies)


def _workers(study_path: Path, storage: str, n_workers: int, n_trials: int) -> dict:
    env = {**os.environ, "MOO_COMPRESS_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "moo_compress", "worker", str(study_path), "--storage", storage]
    cmd += ["--json", "--n-trials", str(n_trials)]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, "--worker-id", f"w{i}"], env=env, stdout=subprocess.PIPE, text=True)
        for i in range(n_workers)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    loop = sum(o["loop_seconds"] for o in outs)
    return {
        "workers": n_workers,
        "wall_seconds": time.perf_counter() - t0,
        "evaluated": [o["evaluated"] for o in outs],
        "database_share": sum(o["database_seconds"] for o in outs) / loop,
        "waiting_share": sum(o["wait_seconds"] for o in outs) / loop,
        "evaluation_share": sum(o["eval_seconds"] for o in outs) / loop,
        "database_seconds_per_trial": sum(o["database_seconds"] for o in outs)
        / max(1, sum(o["evaluated"] for o in outs)),
        "per_worker": outs,
    }


def measure(storage: str, stored: int, new: int, n_workers: int, folder: Path) -> dict:
    study_path = _study(folder, f"scale{uuid.uuid4().hex[:8]}")
    t0 = time.perf_counter()
    _fill(study_path, storage, stored)
    fill = time.perf_counter() - t0
    run = _workers(study_path, storage, n_workers, stored + new)
    run.update({"stored": stored, "new": new, "fill_seconds": fill})
    print(
        f"{stored} stored trials, {n_workers} workers, {new} new: database "
        f"{100 * run['database_share']:.2f} % of worker time "
        f"({1000 * run['database_seconds_per_trial']:.0f} ms per trial), waiting "
        f"{100 * run['waiting_share']:.1f} %",
        flush=True,
    )
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--new", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with postgres(args.storage) as storage, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [
            measure(storage, n, args.new, args.workers, folder) for n in (args.small, args.stored)
        ]
    result = {
        "target": "database share of 4 evaluation-bound workers < 0.02 at 1,000 trials",
        "database_share": {str(r["stored"]): r["database_share"] for r in runs},
        "runs": runs,
        "machine": f"{os.cpu_count()} cores; {args.workers} workers of 1 thread each (CPU-bound)",
    }
    out = HERE / "results" / "workers_scale.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    import _provenance

    _provenance.record(out)
    print(f"-> {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
