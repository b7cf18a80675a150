"""``optuna-gp`` on the tabular benchmark (issue 26): its share of the attainable hypervolume
at 40 evaluations against TPE and random sampling, and what a proposal costs.

    python benchmarks/gp_driver.py            # -> results/gp_driver.json
    python benchmarks/gp_driver.py --seeds 30 --first-seed 100

The table is ``benchmarks/search_efficiency.py``'s (every configuration of its grid on the
quick start's task); the study is the quick start's (4 objectives, its accuracy constraint,
hypervolume bounds derived from the baseline and the constraint). Each driver is replayed
for 40 evaluations with seeds 100-129 (never used while the drivers were developed):
the median share of the table's attainable hypervolume, with a bootstrap 95 % interval of
the ratio of medians and a one-sided Mann-Whitney p-value against TPE and random sampling
(``moo_compress._utils.stats.compare``). The proposal cost is the wall time of each
``optuna-gp`` proposal against the number of complete trials stored before it (medians over
the seeds, two replays at a time on this 2-core machine, torch on one thread each).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from search_efficiency import (  # noqa: E402
    BASELINE,
    RESULTS,
    TABLE,
    _attainable,
    _stats,
    _study_variant,
    hv_bounds,
)

OUT = RESULTS / "gp_driver.json"
AT = 40
DRIVERS = {
    "optuna-gp": {"n_startup_trials": 8},
    "optuna-tpe": {"n_startup_trials": 8},
    "optuna-random": {},
}


def _hv(study, cfg, bounds) -> float:
    from moo_compress import record
    from moo_compress.archive import ParetoArchive

    archive = ParetoArchive(cfg.directions, bounds)
    for t in study.trials:
        if t.state.name == "COMPLETE" and record.is_feasible(t):
            archive.add(t.values)
    return archive.hypervolume()


def _one(args) -> tuple[float, dict[int, list[float]]]:
    """One replay (driver, seed): its hypervolume at 40 and, for optuna-gp, each proposal's
    seconds by the complete trials stored before it. Torch on one thread per process."""
    import pandas as pd
    import torch

    from moo_compress.drivers import gp
    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.replay import replay

    driver, options, seed, tmp = args
    torch.set_num_threads(1)
    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    cfg = _study_variant(["accuracy", "cr", "mce", "proxy_corrupted_acc"], Path(tmp))
    served = dict.fromkeys([*cfg.objective_names, *(c.objective for c in cfg.constraints)])
    table = TableEvaluator.from_frame(frame, served, baseline=baseline, arch=cfg.arch)
    costs: dict[int, list[float]] = {}
    propose = gp.WarpedGPSampler.propose

    def timed(self, trials, directions, space):
        t0 = time.perf_counter()
        try:
            return propose(self, trials, directions, space)
        finally:
            costs.setdefault(len(trials), []).append(time.perf_counter() - t0)

    gp.WarpedGPSampler.propose = timed
    try:
        study = replay(cfg, table, seed=seed, n_trials=AT, driver=driver, driver_options=options)
    finally:
        gp.WarpedGPSampler.propose = propose
    return _hv(study, cfg, hv_bounds(cfg, baseline)), costs


def run(n_seeds: int, first_seed: int, processes: int = 2) -> dict:
    """Replay every driver for ``n_seeds`` seeds, ``processes`` replays at a time."""
    from multiprocessing import get_context

    import pandas as pd

    from moo_compress._utils.stats import compare

    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    seeds = list(range(first_seed, first_seed + n_seeds))
    costs: dict[int, list[float]] = {}
    out: dict = {
        "seeds": n_seeds,
        "seed_values": seeds,
        "at": AT,
        "processes": processes,
        "drivers": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _study_variant(["accuracy", "cr", "mce", "proxy_corrupted_acc"], Path(tmp))
        bounds = hv_bounds(cfg, baseline)
        attainable = _attainable(frame, cfg, baseline)
        out.update(
            {
                "table": str(TABLE.relative_to(ROOT)),
                "objectives": cfg.objective_names,
                "hv_bounds": [list(b) for b in bounds],
                "attainable_hv": attainable,
            }
        )
        shares = {}
        with get_context("spawn").Pool(processes) as pool:
            for driver, options in DRIVERS.items():
                started = time.perf_counter()
                results = pool.map(_one, [(driver, options, s, tmp) for s in seeds])
                for _, c in results:
                    for n, v in c.items():
                        costs.setdefault(n, []).extend(v)
                shares[driver] = np.array([hv for hv, _ in results]) / attainable
                out["drivers"][driver] = {
                    "options": options,
                    "share_of_attainable_at_40": _stats(shares[driver]),
                    "share_per_seed": [float(v) for v in shares[driver]],
                    "replay_wall_seconds": time.perf_counter() - started,
                }
                print(driver, out["drivers"][driver]["share_of_attainable_at_40"], flush=True)
        for driver in DRIVERS:
            out["drivers"][driver]["vs_tpe"] = compare(shares[driver], shares["optuna-tpe"])
            out["drivers"][driver]["vs_random"] = compare(shares[driver], shares["optuna-random"])
    out["gp_proposal_seconds_by_stored_trials"] = {
        str(n): {"median": float(np.median(v)), "proposals": len(v)}
        for n, v in sorted(costs.items())
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(OUT)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="replays at a time")
    args = parser.parse_args(argv)
    run(args.seeds, args.first_seed, args.processes)


if __name__ == "__main__":
    main()
