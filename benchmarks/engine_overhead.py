"""Time the quick start and report the share of wall time spent outside model evaluation.

Runs ``studies/quickstart.yaml`` in a fresh temporary copy (new database, new cache), twice:
once from scratch (includes training the baseline and generating the corrupted test sets)
and once more with the caches warm and a new study name, which is what every later study on
the same data pays. Engine overhead = wall time - setup - time inside ``Evaluator.evaluate``
(compression, fine-tuning, packing, objectives): it is sampling, storage writes, archive and
hypervolume updates, progress display. Target: under 2 % of the wall time.

    python benchmarks/engine_overhead.py  # writes benchmarks/results/engine_overhead.json
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(folder: Path, name: str) -> dict:
    from moo_compress.config import load_study_config
    from moo_compress.runner import run_search

    study = folder / "studies" / "quickstart.yaml"
    text = study.read_text().replace("name: quickstart", f"name: {name}")
    study.write_text(text)
    cfg = load_study_config(study)
    t0 = time.perf_counter()
    summary = run_search(cfg, show_progress=False, log=lambda m: None)
    wall = time.perf_counter() - t0
    overhead = wall - summary["setup_seconds"] - summary["eval_seconds"]
    search_wall = wall - summary["setup_seconds"]
    return {
        "study": name,
        "trials_complete": summary["complete"],
        "trials_failed": summary["failed"],
        "archive_size": summary["archive_size"],
        "hypervolume": round(summary["hypervolume"], 5),
        "wall_seconds": round(wall, 2),
        "setup_seconds": round(summary["setup_seconds"], 2),
        "evaluation_seconds": round(summary["eval_seconds"], 2),
        "engine_overhead_seconds": round(overhead, 3),
        "engine_overhead_share_of_wall": round(overhead / wall, 5),
        "engine_overhead_share_of_search_loop": round(overhead / search_wall, 5),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="moo-bench-"))
    try:
        shutil.copytree(
            ROOT / "studies", tmp / "studies", ignore=shutil.ignore_patterns("*.db", "*.cache")
        )
        shutil.copytree(ROOT / "search_spaces", tmp / "search_spaces")
        cold = run(tmp, "quickstart")
        warm = run(tmp, "quickstart_warm")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "engine_overhead",
        "command": "python benchmarks/engine_overhead.py",
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "target": "engine overhead < 2 % of wall time; quick start < 300 s",
        "cold_cache": cold,
        "warm_cache": warm,
    }
    out = ROOT / "benchmarks" / "results" / "engine_overhead.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    import _provenance

    _provenance.record(out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
