"""Per-trial engine overhead as a study grows (issue 17): 100, 1,000 and 10,000 stored trials.

For each driver, a fresh study is filled with exactly N stored trials (copies of real
trials of the tabular benchmark with unique configuration keys, so the samplers see N real
observations), then the driver runs until exactly ``--new`` more COMPLETE trials are stored
(duplicate proposals and failures do not count towards them, and their time is part of the
overhead) against the table (:class:`~moo_compress.evaluation.table.TableEvaluator`:
an evaluation is a dictionary lookup, so everything measured is engine: proposing, claiming,
storing, archive and hypervolume updates). Per-trial overhead = wall time / new trials.
Target: at 10,000 trials at most 1.5x the value at 100, and under 50 ms on PostgreSQL.

    python benchmarks/scale.py                      # SQLite
    MOO_COMPRESS_TEST_POSTGRES=postgresql+psycopg://... python benchmarks/scale.py  # + PostgreSQL

Also times one hypervolume update of the incremental archive (moocore's exact hypervolume
through pymoo) against the archive size, for 2 to 5 objectives.
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DRIVERS = ("optuna-random", "optuna-tpe", "optuna-nsga2", "pymoo-nsga2")


def _template_trials(cfg, table, n: int) -> list:
    """``n`` stored trials as a real search records them: replayed random proposals from the
    table, repeated with unique configuration keys."""
    import optuna

    from moo_compress.replay import replay

    base = [
        t
        for t in replay(cfg, table, seed=0, n_trials=200, driver="optuna-random").trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    return unique_copies(base, n)


def unique_copies(trials: list, n: int, suffix: str = "-") -> list:
    """``n`` new trials cycling through ``trials``, each with a configuration key of its own
    (``<key><suffix><i>``), so that every driver and worker counts them as distinct models."""
    import optuna

    out = []
    for i in range(n):
        t = trials[i % len(trials)]
        attrs = dict(t.user_attrs)
        attrs["config_key"] = f"{attrs['config_key']}{suffix}{i}"
        out.append(
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                values=t.values,
                user_attrs=attrs,
            )
        )
    return out


def _filled_study(url: str, cfg, trials: list):
    import optuna

    study = optuna.create_study(
        study_name=f"scale-{uuid.uuid4().hex[:8]}", storage=url, directions=cfg.directions
    )
    t0 = time.perf_counter()
    study.add_trials(trials)
    return study, time.perf_counter() - t0


def measure(url: str, sizes: list[int], n_new: int) -> dict:
    """Per-trial overhead of every driver on studies of each size, in storage ``url``."""
    import optuna
    import pandas as pd
    from search_efficiency import BASELINE, TABLE, _study_variant

    from moo_compress.drivers import DRIVER_INFO
    from moo_compress.drivers import DRIVERS as DRIVER_REGISTRY
    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.search import SearchSession

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    COMPLETE = optuna.trial.TrialState.COMPLETE
    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _study_variant(["accuracy", "cr", "mce", "proxy_corrupted_acc"], Path(tmp))
        served = [*cfg.objective_names, *(c.objective for c in cfg.constraints)]
        table = TableEvaluator.from_frame(frame, dict.fromkeys(served), baseline=baseline)
        templates = _template_trials(cfg, table, max(sizes))
        for n in sizes:
            row: dict = {}
            for driver in DRIVERS:
                # a study of exactly n trials for each driver: no driver sees another's trials
                study, fill_seconds = _filled_study(url, cfg, templates[:n])
                stored = len(study.get_trials(deepcopy=False))
                complete = len(study.get_trials(deepcopy=False, states=(COMPLETE,)))
                if stored != n or complete != n:
                    raise RuntimeError(f"{driver}: study filled with {stored} trials, not {n}")
                run_cfg = dataclasses.replace(
                    cfg,
                    driver=driver,
                    driver_options={k: v[0] for k, v in DRIVER_INFO[driver].options.items()},
                    # the budget counts COMPLETE trials: exactly n_new new ones
                    n_trials=complete + n_new,
                    max_failures=10**6,
                    cache_dir=Path(tmp) / "cache",
                    storage=url,
                )
                t0 = time.perf_counter()
                session = SearchSession(run_cfg, study, table, show_progress=False)
                session.fill_hypervolume_history()  # once per study (resume), not per trial
                start_seconds = time.perf_counter() - t0
                before = session.n_complete
                t1 = time.perf_counter()
                DRIVER_REGISTRY.get(driver)(run_cfg).run(session, interrupted=[])
                loop = time.perf_counter() - t1
                added = session.n_complete - before
                proposals = len(study.get_trials(deepcopy=False)) - stored
                if added != n_new:
                    raise RuntimeError(
                        f"{driver} at {n} stored trials added {added} complete trials, not {n_new}"
                    )
                row[driver] = {
                    "stored_trials": stored,
                    "new_trials": added,
                    "new_trials_all_states": proposals,
                    "per_trial_ms": 1000 * loop / added,
                    "session_start_seconds": start_seconds,
                    "fill_seconds": fill_seconds,
                }
                print(
                    f"{url.split(':')[0]:>10} n={stored:>6} {driver:>14}: "
                    f"{row[driver]['per_trial_ms']:8.1f} ms/trial",
                    flush=True,
                )
                optuna.delete_study(study_name=study.study_name, storage=url)
            out[str(n)] = row
    small, large = str(min(sizes)), str(max(sizes))
    out["ratio_largest_to_smallest"] = {
        d: out[large][d]["per_trial_ms"] / out[small][d]["per_trial_ms"] for d in DRIVERS
    }
    return out


def hypervolume_updates(sizes=(10, 50, 100, 200, 400), objectives=(2, 3, 4, 5)) -> dict:
    """Seconds of one archive hypervolume update for fronts of each size."""
    from moo_compress.archive import ParetoArchive

    rng = np.random.default_rng(0)
    ParetoArchive(["minimize"], [(0.0, 1.0)]).add([0.5])  # imports outside the timing
    warm = ParetoArchive(["minimize"] * 2, [(0.0, 1.0)] * 2)
    warm.add([0.5, 0.5])
    warm.hypervolume()
    out = {}
    for k in objectives:
        row = {}
        for size in sizes:
            # points on a concave front: every one non-dominated
            x = np.abs(rng.normal(size=(size, k)))
            front = x / np.linalg.norm(x, axis=1, keepdims=True)
            archive = ParetoArchive(["minimize"] * k, [(0.0, 1.0)] * k)
            for p in front:
                archive.add(p)
            reps = 5
            t0 = time.perf_counter()
            for _ in range(reps):
                archive._hv = None  # force the recomputation an update costs
                archive.hypervolume()
            row[str(size)] = {"front": archive.size, "ms": 1000 * (time.perf_counter() - t0) / reps}
        out[str(k)] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--new", type=int, default=20, help="trials each driver adds")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    result = {
        "benchmark": "scale",
        "command": f"python benchmarks/scale.py --sizes {args.sizes} --new {args.new} "
        "(MOO_COMPRESS_TEST_POSTGRES set for PostgreSQL)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "target": "per-trial overhead at 10,000 trials <= 1.5x at 100; < 50 ms on PostgreSQL",
        "storages": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["storages"]["sqlite"] = measure(f"sqlite:///{tmp}/scale.db", sizes, args.new)
    pg = os.environ.get("MOO_COMPRESS_TEST_POSTGRES")
    if pg:
        result["storages"]["postgresql"] = measure(pg, sizes, args.new)
    result["hypervolume_update"] = hypervolume_updates()
    path = ROOT / "benchmarks" / "results" / "scale.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(path)
    print(f"-> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
