"""A learning-curve benchmark where fine-tuning matters (issue 26), in the LCBench / YAHPO
style: every configuration of ``learning_curves/space.yaml`` (heavy pruning, low bits, 8
epochs of fine-tuning; the quick start's task otherwise, ``learning_curves/study.yaml``)
built once, its last fine-tuning run paused after 1, 2 and 4 epochs and continued from its
checkpoint to 8 (:func:`moo_compress.compression.pipeline.build`), with its objectives after
each: accuracy, CR and the proxies at 1, 2, 4 and 8 epochs, mCE at 2 and 8.

    python benchmarks/learning_curves.py build     # resumable: one JSON line per configuration
    python benchmarks/learning_curves.py table     # -> results/learning_curves_table.parquet
    python benchmarks/learning_curves.py replay    # -> results/learning_curves.json

What it costs is recorded as it is spent, so that a replay charges every rung its measured
cost: ``build_seconds`` at e epochs is the cost of building the model paused there (the first
pause builds from the baseline; each later one continues the run from the checkpoint before
it, and adds that cost); ``scratch_seconds`` is one uninterrupted full build (what a full
evaluation pays), measured apart; loading the packed model (``_load``, every rung does it
once) and each objective's measuring are timed alone. Seconds are CPU
seconds of this process (``time.process_time``) with torch on one thread, so that the table
can be built in the background without another job's load changing them much.

Each configuration also checks the continuation: the model continued to 8 epochs must be
the uninterrupted build's, byte for byte (``continued_equals_full``).

``replay`` runs, for 30 seeds (100-129; ``--seeds``), the full-evaluation drivers (TPE,
random sampling, GP) for 80 evaluations and mo-asha with epoch rungs and as before (a rung
that builds the full model and measures the objectives that need no corrupted images), for
twice TPE's median seconds at 40 evaluations, every rung charged its measured cost. Target
hypervolume: TPE's median at 40 evaluations; reported per driver with its seeds, bootstrap
95 % interval of the ratio of medians and one-sided Mann-Whitney p-value
(``moo_compress._utils.stats.compare``): the seconds to the target as a share of TPE's
seconds at 40, the hypervolume at TPE's seconds at 40 against TPE and random, and, for the
full-evaluation drivers, the share of the table's attainable hypervolume at 40 evaluations.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
STUDY = HERE / "learning_curves" / "study.yaml"
CACHE = HERE / ".cache" / "learning_curves"
LINES = CACHE / "curves.jsonl"  # and curves.part<i>.jsonl of parallel builds
RESULTS = HERE / "results"
TABLE = RESULTS / "learning_curves_table.parquet"
BASELINE = RESULTS / "learning_curves_baseline.json"
#: The pauses of the last fine-tuning run (the last is the full build).
EPOCHS = (1, 2, 4, 8)
#: Objectives measured at every pause, and those measured at some only.
EVERY = ("accuracy", "cr", "proxy_corrupted_acc", "proxy_purity")
SOME = {"mce": (2, 8)}


def configurations(cfg) -> list[tuple[str, dict]]:
    """Every distinct configuration of the study's grid, by key, in key order."""
    space = cfg.space
    names = [v.name for v in space.searched]
    out = {}
    for point in itertools.product(*(v.grid_values() for v in space.searched)):
        config = space.full_config(dict(zip(names, point, strict=True)))
        out.setdefault(space.config_key(config), config)
    return sorted(out.items())


def _measure(ev, artifact: bytes, names: list[str], arch: str) -> tuple[dict, dict]:
    """Each objective's value and CPU seconds, measured alone on the model loaded once
    (loading it, as every rung does, is ``"_load"``)."""
    from moo_compress.artifact import decode_model

    t0 = time.process_time()
    model, _ = decode_model(artifact, builders=ev.builders)
    values, seconds = {}, {"_load": time.process_time() - t0}
    reference = ev.reference_for(arch)
    for name in names:
        t0 = time.process_time()
        result = ev.measure(model, artifact, [name], reference=reference)[name]
        seconds[name] = time.process_time() - t0
        values[name] = float(result.value)
    return values, seconds


def one(ev, key: str, config: dict, arch: str) -> dict:
    """The learning curve of one configuration (see the module docstring)."""
    points = {}
    checkpoint = None
    spent = 0.0
    artifact = b""
    for epochs in EPOCHS:
        t0 = time.process_time()
        last = epochs if epochs < max(EPOCHS) else None
        artifact, made = ev.build_paused(config, key, last_epochs=last, checkpoint=checkpoint)
        spent += time.process_time() - t0
        checkpoint = made.checkpoint
        names = list(EVERY) + [n for n, at in SOME.items() if epochs in at]
        values, seconds = _measure(ev, artifact, names, arch)
        points[epochs] = {
            "epochs_done": made.epochs,
            "build_seconds": spent,
            "values": values,
            "measure_seconds": seconds,
            "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        }
        if checkpoint is None and epochs < max(EPOCHS):  # nothing left to fine-tune
            for later in (e for e in EPOCHS if e > epochs):
                rest, rest_s = _measure(
                    ev, artifact, [n for n, at in SOME.items() if later in at], arch
                )
                rest_s["_load"] = seconds["_load"]
                points[later] = {
                    **points[epochs],
                    "values": {**values, **rest},
                    "measure_seconds": {**seconds, **rest_s},
                }
            break
    t0 = time.process_time()
    full = ev.build(config, key)
    scratch = time.process_time() - t0
    return {
        "config_key": key,
        "config": config,
        "scratch_seconds": scratch,
        "continued_equals_full": hashlib.sha256(full).hexdigest()
        == points[max(EPOCHS)]["artifact_sha256"],
        "points": {str(e): p for e, p in points.items()},
    }


def build(limit: int | None = None, part: tuple[int, int] = (0, 1)) -> None:
    """Build the curves of every configuration not built yet (resumable); with ``part``
    ``(i, n)`` only the i-th of every n configurations (n processes build in parallel)."""
    import torch

    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = load_study_config(STUDY)
    ev = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    ev.prepare([cfg.arch])
    CACHE.mkdir(parents=True, exist_ok=True)
    done = {line["config_key"] for line in load_lines()}
    grid = configurations(cfg)
    done &= {k for k, _ in grid}
    todo = [(k, c) for j, (k, c) in enumerate(grid) if k not in done and j % part[1] == part[0]]
    lines = LINES if part[1] == 1 else CACHE / f"curves.part{part[0]}.jsonl"
    total = len(done) + len(todo)
    if limit is not None:
        todo = todo[:limit]
    started = time.perf_counter()
    for i, (key, config) in enumerate(todo, start=1):
        row = one(ev, key, config, cfg.arch)
        with lines.open("a") as f:
            f.write(json.dumps(row) + "\n")
        took = time.perf_counter() - started
        print(
            f"{len(done) + i}/{total} {key}: {row['points']['8']['values']}, "
            f"continued = full: {row['continued_equals_full']} "
            f"({took / i:.1f} s per configuration)",
            flush=True,
        )


def load_lines() -> list[dict]:
    """Every configuration's curve built so far (once each, of every build's files)."""
    out: dict[str, dict] = {}
    for path in sorted(CACHE.glob("curves*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out.setdefault(row["config_key"], row)
    return list(out.values())


def table() -> None:
    """Write the curves as a table: one row per (configuration, epochs), with the build and
    measuring seconds, and the baseline's values."""
    import pandas as pd

    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(STUDY)
    grid = {k for k, _ in configurations(cfg)}
    rows = []
    for line in (x for x in load_lines() if x["config_key"] in grid):
        for epochs, p in line["points"].items():
            rows.append(
                {
                    "config_key": line["config_key"],
                    **{v.name: line["config"].get(v.name) for v in cfg.space.searched},
                    "epochs": int(epochs),
                    "epochs_done": p["epochs_done"],
                    "build_seconds": p["build_seconds"],
                    "scratch_seconds": line["scratch_seconds"],
                    "continued_equals_full": line["continued_equals_full"],
                    **p["values"],
                    **{f"seconds_{k}": v for k, v in p["measure_seconds"].items()},
                }
            )
    frame = pd.DataFrame(rows).sort_values(["config_key", "epochs"]).reset_index(drop=True)
    RESULTS.mkdir(exist_ok=True)
    frame.to_parquet(TABLE, index=False)
    import _provenance

    _provenance.record(TABLE)
    ev = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    BASELINE.write_text(json.dumps(ev.baseline_values(cfg.arch), indent=1) + "\n")
    _provenance.record(BASELINE)
    n = frame.config_key.nunique()
    same = frame.groupby("config_key").continued_equals_full.first()
    print(
        f"{n} configurations, {int(same.sum())} continued builds equal to the full build, "
        f"{frame.groupby('config_key').scratch_seconds.first().sum() / 3600:.2f} h of full "
        f"builds -> {TABLE.relative_to(ROOT)}"
    )


REPLAY = RESULTS / "learning_curves.json"
AT = 40
FIRST_SEED = 100
N_SEEDS = 30
CHEAP = ["accuracy", "cr", "proxy_corrupted_acc"]
#: The drivers replayed: label -> driver section (full evaluations, then multi-fidelity).
FULL = {
    "optuna-tpe": {"name": "optuna-tpe", "n_startup_trials": 8},
    "optuna-random": {"name": "optuna-random"},
    "optuna-gp": {"name": "optuna-gp", "n_startup_trials": 8},
}
LADDERS = {
    "mo-asha, epoch rungs 1 / 2 (tpe, eta 3)": {
        "name": "mo-asha",
        "sampler": "tpe",
        "eta": 3,
        "n_startup_trials": 8,
        "rungs": [{"finetune_epochs": 1, "objectives": CHEAP}, {"finetune_epochs": 2}],
    },
    "mo-asha, epoch rungs 1 / 4 (tpe, eta 3)": {
        "name": "mo-asha",
        "sampler": "tpe",
        "eta": 3,
        "n_startup_trials": 8,
        "rungs": [
            {"finetune_epochs": 1, "objectives": CHEAP},
            {"finetune_epochs": 4, "objectives": CHEAP},
        ],
    },
    "mo-asha as before: full build at rung 0 (tpe, eta 3)": {
        "name": "mo-asha",
        "sampler": "tpe",
        "eta": 3,
        "n_startup_trials": 8,
        "rungs": [{"objectives": CHEAP}],
    },
}


def table_evaluator(frame, baseline, cfg):
    """The table as a :class:`~moo_compress.evaluation.table.TableEvaluator` with its
    learning curves (full evaluations: the 8-epoch values, charged one uninterrupted build
    and measuring every objective)."""
    from moo_compress.evaluation.table import TableEvaluator

    names = [n for n in cfg.record if n in frame.columns]
    curves: dict = {}
    for r in frame.to_dict("records"):
        point = {
            "values": {n: float(r[n]) for n in names if r.get(n) == r.get(n)},
            "build_seconds": float(r["build_seconds"]),
            "measure_seconds": {
                n: float(r[f"seconds_{n}"])
                for n in [*names, "_load"]
                if r.get(f"seconds_{n}") == r.get(f"seconds_{n}")
            },
        }
        if r["epochs"] == max(EPOCHS):
            point["scratch_seconds"] = float(r["scratch_seconds"])
        curves.setdefault(r["config_key"], {})[int(r["epochs"])] = point
    top = max(EPOCHS)
    rows = {k: c[top]["values"] for k, c in curves.items()}
    seconds = {
        k: c[top]["scratch_seconds"] + sum(c[top]["measure_seconds"].values())
        for k, c in curves.items()
    }
    return TableEvaluator(rows, seconds, baseline=baseline, arch=cfg.arch, curves=curves)


def _variant(folder: Path, driver: dict, n_trials: int):
    import yaml

    from moo_compress.config import load_study_config

    data = yaml.safe_load(STUDY.read_text())
    data["search_space"] = str(STUDY.parent / "space.yaml")
    data["cache_dir"] = str(folder / "cache")
    data["driver"] = driver
    data["budget"] = {"n_trials": n_trials}
    path = folder / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_study_config(path)


def replay(n_seeds: int = N_SEEDS, horizon: float = 2.0, first_seed: int = FIRST_SEED) -> dict:
    """Replay every driver on the table (see the module docstring)."""
    import dataclasses
    import tempfile

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from multi_fidelity import _curve_by_seconds as _curve
    from multi_fidelity import _hv_at, _seconds_to
    from search_efficiency import _attainable, _stats

    from moo_compress._utils.stats import bootstrap_median_interval, compare
    from moo_compress.replay import replay as run_replay
    from moo_compress.settings.bounds import study_bounds

    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    seeds = list(range(first_seed, first_seed + n_seeds))
    top = frame[frame.epochs == max(EPOCHS)]
    out: dict = {
        "table": {
            "file": str(TABLE.relative_to(ROOT)),
            "configurations": int(frame.config_key.nunique()),
            "continued_equals_full": int(top.continued_equals_full.sum()),
        },
        "seeds": n_seeds,
        "seed_values": seeds,
        "at": AT,
        "horizon": horizon,
        "full": {},
        "mo_asha": {},
    }
    curves: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _variant(Path(tmp), FULL["optuna-tpe"], AT)
        bounds = study_bounds(cfg, lambda arch: baseline)
        attainable = _attainable(top, cfg, baseline)
        out["hv_bounds"] = [list(b) for b in bounds]
        out["attainable_hv"] = attainable
        table = table_evaluator(frame, baseline, cfg)
        for label, section in FULL.items():
            # GP's proposals cost seconds each: it runs the 40 evaluations its target needs
            n = AT if label == "optuna-gp" else int(horizon * AT)
            vcfg = _variant(Path(tmp), section, n)
            started = time.perf_counter()
            runs = [_curve(run_replay(vcfg, table, seed=s), vcfg, bounds) for s in seeds]
            curves[label] = runs
            at40 = np.array([r[1][AT - 1] for r in runs])
            out["full"][label] = {
                "driver": section,
                "hv_at_40": _stats(at40),
                "hv_at_40_per_seed": [float(v) for v in at40],
                "share_of_attainable_at_40": _stats(at40 / attainable),
                "seconds_at_40": _stats(np.array([r[0][AT - 1] for r in runs])),
                "replay_wall_seconds": time.perf_counter() - started,
            }
            print(label, out["full"][label]["hv_at_40"], flush=True)
        target = out["full"]["optuna-tpe"]["hv_at_40"]["median"]
        budget = out["full"]["optuna-tpe"]["seconds_at_40"]["median"]
        out.update({"target_hv": target, "target_seconds": budget})
        equal = {
            d: np.array([_hv_at(x, y, budget) for x, y in curves[d]])
            for d in FULL
            if d != "optuna-gp"
        }
        for label in FULL:
            at40 = np.array(out["full"][label]["hv_at_40_per_seed"])
            out["full"][label].update(
                {
                    "hv_at_40_vs_random": compare(
                        at40, out["full"]["optuna-random"]["hv_at_40_per_seed"]
                    ),
                    "hv_at_40_vs_tpe": compare(
                        at40, out["full"]["optuna-tpe"]["hv_at_40_per_seed"]
                    ),
                    **({"hv_at_equal_seconds": _stats(equal[label])} if label in equal else {}),
                }
            )
        for label, section in LADDERS.items():
            vcfg = _variant(Path(tmp), section, 1_000_000)
            vcfg = dataclasses.replace(vcfg, budget_seconds=horizon * budget)
            started = time.perf_counter()
            runs = [
                _curve(run_replay(vcfg, table, seed=s, n_trials=1_000_000), vcfg, bounds)
                for s in seeds
            ]
            curves[label] = runs
            ratio = np.array([_seconds_to(x, y, target) / budget for x, y in runs])
            hv_equal = np.array([_hv_at(x, y, budget) for x, y in runs])
            out["mo_asha"][label] = {
                "driver": section,
                "seconds_to_target_ratio": {
                    **_stats(ratio),
                    "seeds": len(ratio),
                    "ci95_of_median": list(bootstrap_median_interval(ratio)),
                },
                "reached_within_horizon": float(np.mean(np.isfinite(ratio))),
                "hv_at_equal_seconds": _stats(hv_equal),
                "hv_at_equal_seconds_per_seed": [float(v) for v in hv_equal],
                "hv_at_equal_seconds_vs_tpe": compare(hv_equal, equal["optuna-tpe"]),
                "hv_at_equal_seconds_vs_random": compare(hv_equal, equal["optuna-random"]),
                "full_evaluations_at_equal_seconds": _stats(
                    np.array([np.searchsorted(x, budget, side="right") for x, _ in runs], float)
                ),
                "replay_wall_seconds": time.perf_counter() - started,
            }
            print(label, out["mo_asha"][label]["seconds_to_target_ratio"], flush=True)
    REPLAY.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(REPLAY)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--limit", type=int, default=None, help="at most this many configurations")
    b.add_argument("--part", default="0/1", help="i/n: the i-th of every n configurations")
    sub.add_parser("table")
    r = sub.add_parser("replay")
    r.add_argument("--seeds", type=int, default=N_SEEDS)
    r.add_argument("--first-seed", type=int, default=FIRST_SEED)
    args = parser.parse_args(argv)
    if args.command == "build":
        i, n = (int(x) for x in args.part.split("/"))
        build(args.limit, (i, n))
    elif args.command == "table":
        table()
    else:
        replay(args.seeds, first_seed=args.first_seed)


if __name__ == "__main__":
    main()
