"""Speed-up of 2 workers against 1 on an evaluation-bound study, and the share of the
workers' time spent on the database, on a real PostgreSQL server.

    python benchmarks/workers_speedup.py            # starts a throw-away server (.ci/postgres.sh)
    python benchmarks/workers_speedup.py --storage postgresql+psycopg://user:pw@host/db

The same 24-trial study (optuna-random, fine-tuning 2 epochs per stage) runs three times
from the same cached baseline: one worker using every core (what one process does), one
worker on one thread, and two workers on one thread each. Wall time is from starting the
workers to the last one exiting (process start-up included). Database share = time in the
worker loop that is neither evaluation nor waiting for the other worker's last trial,
divided by the loop time. Writes ``benchmarks/results/workers_speedup.json``.
"""

from __future__ import annotations

import argparse
import contextlib
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
N_TRIALS = 24
SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.05}
  cluster_count: {type: categorical, choices: [0, 8, 16, 32]}
  quant_bits: {type: categorical, choices: [4, 6, 8, 32]}
  finetune_epochs: 2
"""


def _study(folder: Path, name: str) -> Path:
    (folder / "space.yaml").write_text(SPACE)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""study: {{name: {name}, seed: 0}}
dataset: {{name: digits}}
model: {{arch: small_cnn, width: 1.0}}
baseline: {{epochs: 10}}
search_space: space.yaml
objectives: [accuracy, cr, mce]
record: [accuracy, cr, mce]
driver: {{name: optuna-random}}
budget: {{n_trials: {N_TRIALS}}}
corruptions: {{names: [gaussian_noise, contrast, fog], severities: [1, 3, 5]}}
cache_dir: {folder / "cache"}
workers: {{heartbeat_seconds: 5, grace_seconds: 20}}
"""
    )
    return path


def _run(folder: Path, storage: str, n_workers: int, threads: int) -> dict:
    study = _study(folder, f"bench{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "MOO_COMPRESS_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "moo_compress",
        "worker",
        str(study),
        "--storage",
        storage,
        "--json",
    ]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, "--worker-id", f"w{i}"], env=env, stdout=subprocess.PIPE, text=True)
        for i in range(n_workers)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - t0
    loop = sum(o["loop_seconds"] for o in outs)
    return {
        "workers": n_workers,
        "threads_per_worker": threads,
        "wall_seconds": wall,
        "complete": outs[0]["complete"],
        "evaluated": [o["evaluated"] for o in outs],
        "database_share": sum(o["database_seconds"] for o in outs) / loop,
        "waiting_share": sum(o["wait_seconds"] for o in outs) / loop,
        "per_worker": outs,
    }


@contextlib.contextmanager
def postgres(storage: str | None):
    """``storage``, or the URL of a throw-away server (``.ci/postgres.sh``) stopped after."""
    if storage is not None:
        yield storage
        return
    out = subprocess.run(
        ["bash", str(ROOT / ".ci" / "postgres.sh")], capture_output=True, text=True, check=True
    )
    url, pg_dir = out.stdout.split()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "--stop", pg_dir], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="PostgreSQL URL (default: start a throw-away server)")
    args = parser.parse_args()
    with postgres(args.storage) as storage:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            # train the baseline and make the corrupted sets once (not timed)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "moo_compress",
                    "search",
                    str(_study(folder, "warmup")),
                    "--n-trials",
                    "1",
                    "--no-progress",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            cores = os.cpu_count() or 1
            one_all = _run(folder, storage, 1, cores)
            one_single = _run(folder, storage, 1, 1)
            two = _run(folder, storage, 2, max(1, cores // 2))
    result = {
        "trials": N_TRIALS,
        "speedup_2_workers_vs_1_worker_all_cores": one_all["wall_seconds"] / two["wall_seconds"],
        "speedup_2_workers_vs_1_worker_1_thread": one_single["wall_seconds"] / two["wall_seconds"],
        "database_share_2_workers": two["database_share"],
        "targets": {"speedup": ">= 1.7", "database_share": "< 0.02"},
        "runs": [one_all, one_single, two],
        "machine": f"{cores} cores",
    }
    out = HERE / "results" / "workers_speedup.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    import _provenance

    _provenance.record(out)
    print(
        f"1 worker ({cores} threads) {one_all['wall_seconds']:.1f} s, 1 worker (1 thread) "
        f"{one_single['wall_seconds']:.1f} s, 2 workers {two['wall_seconds']:.1f} s: speed-up "
        f"{result['speedup_2_workers_vs_1_worker_all_cores']:.2f}x / "
        f"{result['speedup_2_workers_vs_1_worker_1_thread']:.2f}x; database share "
        f"{100 * two['database_share']:.2f} %, waiting {100 * two['waiting_share']:.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
