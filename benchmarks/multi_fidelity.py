"""Multi-fidelity search (issue 15): does ``mo-asha`` reach the front for less compute?

    python benchmarks/multi_fidelity.py costs    # what each rung costs, on real models
    python benchmarks/multi_fidelity.py tau      # how well a cheap rung ranks like the full one
    python benchmarks/multi_fidelity.py replay   # mo-asha vs full-fidelity drivers on the table
    python benchmarks/multi_fidelity.py real     # the quick start, mo-asha vs optuna-tpe
    python benchmarks/multi_fidelity.py feasible # share of feasible configurations at rung 0

``costs`` builds and measures 24 configurations of the tabular benchmark's grid (the quick
start's task; ``benchmarks/search_efficiency.py``) and times, per configuration, building the
model (compress + fine-tune), the default lower rung of the quick start (the optimized and
constrained objectives that need no corrupted images: accuracy, cr, proxy_corrupted_acc) and
the rest of the full evaluation (mCE and the other recorded objectives). The shares of a full
evaluation (median over the configurations) are what ``replay`` charges each rung: a
configuration's table seconds x the share.

``tau`` gives, over every model of the table, Kendall's tau between the promotion order at
the lower rung (feasibility, non-dominated rank, crowding, on the objectives known there)
and the same order on the full evaluation's objectives, and, measured on 60 real models,
tau between mCE on data subsets (a possible middle rung) and the full mCE, with their costs.

``replay`` runs each driver with 30 seeds (100-129 by default, never used while developing
the drivers; ``--seeds``, ``--first-seed``) on the table (real driver code, in-memory
storage) and compares hypervolume against evaluation seconds: the best full-fidelity
driver's median hypervolume after 40 full evaluations is the target; for mo-asha, the
seconds to reach it (per seed, as a ratio to the full-fidelity driver's median seconds for
40 evaluations; target <= 0.5x) and the hypervolume at equal seconds (the full-fidelity
drivers run 80 evaluations, so that their hypervolume at those seconds is measured, not
cut off at 40). Every ratio comes with its seeds, a bootstrap 95 % interval of the ratio
of medians and a one-sided Mann-Whitney p-value (``moo_compress._utils.stats``) against
random sampling and against the quick start's own driver (``optuna-tpe``).

``real`` runs the quick start (studies/quickstart.yaml) with its shipped driver
(``optuna-tpe``) for its 32 trials and with mo-asha (studies/quickstart_mo_asha.yaml) for
the same evaluation seconds, each in a fresh study, for 3 seeds each (``--seeds``; study
seeds 100, 101, ...), and reports both hypervolumes (validation) and wall times per seed,
with the ratio of medians, its interval and the p-value.

``feasible`` replays mo-asha with each model-based base sampler (tpe, nsga2; the quick
start's constraint, eta 3) on the table for ``--seeds`` seeds (default 30), each for the
evaluation seconds at which ``replay`` compares drivers (``target_seconds`` of
``multi_fidelity.json``), and reports the share of rung-0 configurations that are feasible
(per seed, and over all seeds). ``--code DIR`` measures the package of another checkout
with this script (``--label before`` on the code before issue 22's fix of the base
samplers); each label's figures, with their commit, command, date and cores, are kept in
``multi_fidelity_feasible.json``.

Every step writes ``benchmarks/results/multi_fidelity*.json`` (and a PNG for replay).
Timing steps (costs, real) need a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from search_efficiency import (  # noqa: E402
    BASELINE,
    GRID_DB,
    GRID_SPACE,
    GRID_STUDY,
    QUICKSTART,
    RESULTS,
    TABLE,
    _attainable,
    _stats,
    hv_bounds,
)

COSTS = RESULTS / "multi_fidelity_costs.json"
TAU = RESULTS / "multi_fidelity_tau.json"
REPLAY = RESULTS / "multi_fidelity.json"
REAL = RESULTS / "multi_fidelity_quickstart.json"
MO_ASHA_QUICKSTART = ROOT / "studies" / "quickstart_mo_asha.yaml"
FULL_DRIVERS = ("optuna-tpe", "pymoo-nsga2", "optuna-nsga2", "optuna-random")
AT = 40
#: Seeds of ``replay``: 100, 101, ... (0-19 served while the drivers were developed).
FIRST_SEED = 100
N_SEEDS = 30
SUBSET_TABLE = RESULTS / "multi_fidelity_subset_mce.parquet"
#: A cheaper mCE for a lower rung: 3 corruptions at severity 3 (3 % of a full mCE's cost,
#: Kendall tau 0.95 with it on 60 models: ``tau``).
SUBSET = {
    "corruptions": ["gaussian_noise", "defocus_blur", "contrast"],
    "severities": [3],
    "images": None,
}
SUBSET_RUNG = {"objectives": ["accuracy", "cr", "proxy_corrupted_acc", "mce"], **SUBSET}


def _variant(folder: Path, driver: dict | None = None):
    """The quick start on the grid space (4 objectives, its constraint), optionally with
    another driver section."""
    from moo_compress.config import load_study_config

    data = yaml.safe_load(QUICKSTART.read_text())
    data["search_space"] = str(GRID_SPACE)
    if driver is not None:
        data["driver"] = driver
    data["budget"] = {"n_trials": AT}
    path = folder / f"variant_{(driver or {}).get('name', 'quick')}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_study_config(path)


def _sample(frame, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return frame.iloc[np.sort(rng.choice(len(frame), size=n, replace=False))]


# -- costs ---------------------------------------------------------------------------------
def costs(n: int = 24) -> dict:
    """Time building, the default lower rung and the rest, on ``n`` real configurations."""
    import pandas as pd

    from moo_compress.config import load_study_config
    from moo_compress.drivers.mo_asha import MoAshaDriver
    from moo_compress.evaluation import make_evaluator

    frame = pd.read_parquet(TABLE)
    grid = load_study_config(GRID_STUDY, storage=GRID_DB)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _variant(Path(tmp), {"name": "mo-asha"})
    driver = MoAshaDriver(cfg)
    low, high = driver.to_measure(0), driver.to_measure(1)
    record = list(grid.record)
    assert set(low) | set(high) == set(record), (low, high, record)
    evaluator = make_evaluator(grid.evaluation(), grid.cache_dir)
    evaluator.prepare([grid.arch])
    rows = []
    for row in _sample(frame, n).to_dict("records"):
        key = row["config_key"]
        config = grid.space.full_config({v.name: row[v.name] for v in grid.space.searched})
        assert grid.space.config_key(config) == key
        t0 = time.perf_counter()
        artifact = evaluator.build(config, key)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate_rung(config, key, objectives=low, artifact=artifact)
        rung0 = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate_rung(
            config, key, objectives=[*low, "mce"], fidelity=SUBSET, artifact=artifact
        )
        rung0_subset = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate_rung(config, key, objectives=high, artifact=artifact)
        top = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate_rung(config, key, objectives=record, artifact=artifact)
        measure_all = time.perf_counter() - t0
        full = build + measure_all
        rows.append(
            {
                "config_key": key,
                "technique": row["technique"],
                "build_seconds": build,
                "rung0_measure_seconds": rung0,
                "top_measure_seconds": top,
                "full_measure_seconds": measure_all,
                "build_share": build / full,
                "rung0_share": (build + rung0) / full,
                "rung0_subset_measure_seconds": rung0_subset,
                "rung0_subset_share": (build + rung0_subset) / full,
                "top_share": top / full,
            }
        )
        print(f"{key}: build {build:.2f}s rung0 {rung0:.2f}s top {top:.2f}s", flush=True)
    out = {
        "configurations": n,
        "lower_rung_objectives": low,
        "top_rung_objectives": high,
        "build_share": _stats(np.array([r["build_share"] for r in rows])),
        "rung0_share": _stats(np.array([r["rung0_share"] for r in rows])),
        "top_share": _stats(np.array([r["top_share"] for r in rows])),
        "rung0_with_subset_mce_share": _stats(np.array([r["rung0_subset_share"] for r in rows])),
        "subset": SUBSET,
        "rows": rows,
    }
    COSTS.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(COSTS)
    print(
        f"rung 0 (build + {', '.join(low)}): {out['rung0_share']['median']:.3f} of a full "
        f"evaluation; top rung (the rest): {out['top_share']['median']:.3f}"
    )
    return out


def shares(cfg) -> dict[str, float]:
    """What the table replay charges: build and each objective, as shares of a full
    evaluation (from ``costs``), scaled so that building and measuring every objective once
    add up to exactly 1.0 (the medians, timed apart, do not: 1.019 in the current
    ``multi_fidelity_costs.json``, 0.971 in the earlier one; unscaled, a promoted
    configuration would cost more or less than evaluating it once)."""
    from moo_compress.drivers.mo_asha import MoAshaDriver

    try:
        from moo_compress.evaluation.table import full_evaluation_shares
    except ImportError:  # ``feasible --code`` on a checkout older than the scaling

        def full_evaluation_shares(out: dict[str, float]) -> dict[str, float]:
            total = sum(v for k, v in out.items() if "|" not in k)
            return {k: v / total for k, v in out.items()}

    c = json.loads(COSTS.read_text())
    driver = MoAshaDriver(cfg)
    low, high = driver.to_measure(0), driver.to_measure(1)
    build = c["build_share"]["median"]
    rung0 = c["rung0_share"]["median"] - build
    top = c["top_share"]["median"]
    out = {"build": build}
    out.update({o: rung0 / len(low) for o in low})
    out.update({o: top / len(high) for o in high})
    if "mce" in low:  # the subset rung: what its mCE adds to the plain lower rung
        from moo_compress.evaluation.table import fidelity_id

        extra = c["rung0_with_subset_mce_share"]["median"] - c["rung0_share"]["median"]
        out.pop("mce")
        out["accuracy"] = out["cr"] = out["proxy_corrupted_acc"] = rung0 / 3
        out[f"mce|{fidelity_id(SUBSET)}"] = max(0.0, extra)
        rest = [o for o in driver.to_measure(1)]
        out.update({o: top / len(rest) for o in rest})
    return full_evaluation_shares(out)


def subset_table() -> None:
    """mCE of every table model on :data:`SUBSET` (from its stored artifact)."""
    import pandas as pd

    from moo_compress.artifact import decode_model
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    frame = pd.read_parquet(TABLE)
    grid = load_study_config(GRID_STUDY, storage=GRID_DB)
    evaluator = make_evaluator(grid.evaluation(), grid.cache_dir)
    view = evaluator.at_fidelity(SUBSET)
    view.reference_for(grid.arch)
    rows = []
    for key in frame["config_key"]:
        data = (grid.cache_dir / "artifacts" / f"{key}.mcz").read_bytes()
        model, _ = decode_model(data)
        rows.append(
            {"config_key": key, "mce": float(view.measure(model, data, ["mce"])["mce"].value)}
        )
    pd.DataFrame(rows).to_parquet(SUBSET_TABLE, index=False)
    import _provenance

    _provenance.record(SUBSET_TABLE)
    print(f"{len(rows)} models -> {SUBSET_TABLE.relative_to(ROOT)}")


# -- tau -----------------------------------------------------------------------------------
def promotion_tau() -> dict:
    """Kendall's tau between the promotion order at the lower rung and the same order on
    the full evaluation's objectives, over every model of the table and over the feasible
    ones only (an infeasible model is ranked by its violation in both orders, the same
    measurement, which agrees by construction), with the overlap of the best third and
    ninth."""
    import pandas as pd
    from scipy.stats import kendalltau

    from moo_compress.drivers.mo_asha import MoAshaDriver, promotion_order

    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _variant(Path(tmp), {"name": "mo-asha"})
    driver = MoAshaDriver(cfg)

    def order_position(known: tuple[str, ...]) -> np.ndarray:
        names = [n for n in cfg.objective_names if n in known]
        signs = [
            -1.0 if d == "maximize" else 1.0
            for n, d in zip(cfg.objective_names, cfg.directions, strict=True)
            if n in known
        ]
        vals = frame[names].to_numpy(float) * np.array(signs)
        viol = np.zeros(len(frame))
        for c in cfg.constraints:
            if c.objective in known:
                viol += np.maximum(
                    0.0, [c.value(v, baseline.get(c.objective)) for v in frame[c.objective]]
                )
        order = promotion_order(vals, viol, np.arange(len(frame)))
        pos = np.empty(len(frame))
        pos[order] = np.arange(len(frame))
        return pos

    full_pos = order_position(tuple(cfg.objective_names))
    low_pos = order_position(driver.known(0))
    t_rank = kendalltau(low_pos, full_pos)
    feasible = np.ones(len(frame), dtype=bool)
    for c in cfg.constraints:
        feasible &= np.array(
            [c.value(v, baseline.get(c.objective)) <= 0 for v in frame[c.objective]], dtype=bool
        )
    t_feasible = kendalltau(low_pos[feasible], full_pos[feasible])
    per_objective = {
        o: "exact: the same measurement as the full evaluation" for o in driver.known(0)
    }
    out: dict = {
        "table_models": len(frame),
        "feasible_models": int(feasible.sum()),
        "lower_rung": driver.known(0),
        "promotion_order_tau": {"tau": float(t_rank.statistic), "p": float(t_rank.pvalue)},
        "promotion_order_tau_feasible": {
            "tau": float(t_feasible.statistic),
            "p": float(t_feasible.pvalue),
            "models": int(feasible.sum()),
        },
        "per_objective": per_objective,
        "top_k_overlap": {},
    }
    for share in (1 / 3, 1 / 9):
        k = int(len(frame) * share)
        top_low = set(np.argsort(low_pos)[:k])
        top_full = set(np.argsort(full_pos)[:k])
        out["top_k_overlap"][f"best {share:.3f}"] = len(top_low & top_full) / k
    return out


def tau(n_real: int = 60, *, table_only: bool = False) -> dict:
    """Rank agreement of the lower rung with the full evaluation (table:
    :func:`promotion_tau`) and of mCE on data subsets with the full mCE (real models; with
    ``table_only``, the stored ``mce_subsets`` figures are kept as they are)."""
    import pandas as pd
    from scipy.stats import kendalltau

    from moo_compress.artifact import decode_model
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    out = promotion_tau()
    if table_only:
        stored = json.loads(TAU.read_text()) if TAU.exists() else {}
        kept = {k: stored[k] for k in ("mce_subsets", "mce_models") if k in stored}
        out = {**out, **kept}
        import _provenance

        before = _provenance.previous(TAU)
        TAU.write_text(json.dumps(out, indent=1) + "\n")
        _provenance.record(
            TAU,
            kept={
                "keys": sorted(kept),
                "from": before
                or "the run of `python benchmarks/multi_fidelity.py tau` that wrote them",
            },
        )
        print(json.dumps({k: v for k, v in out.items() if k != "per_objective"}, indent=1))
        return out
    frame = pd.read_parquet(TABLE)
    # mCE on subsets, real models
    grid = load_study_config(GRID_STUDY, storage=GRID_DB)
    evaluator = make_evaluator(grid.evaluation(), grid.cache_dir)
    evaluator.prepare([grid.arch])
    subsets = {
        "3 corruptions (gaussian_noise, defocus_blur, contrast), severity 3": {
            "corruptions": ["gaussian_noise", "defocus_blur", "contrast"],
            "severities": [3],
            "images": None,
        },
        "15 corruptions, severity 3": {"corruptions": None, "severities": [3], "images": None},
        "15 corruptions x 5 severities, 100 images": {
            "corruptions": None,
            "severities": None,
            "images": 100,
        },
        "15 corruptions, severities 2 and 4, 100 images": {
            "corruptions": None,
            "severities": [2, 4],
            "images": 100,
        },
    }
    rows = []
    for row in _sample(frame, n_real, seed=1).to_dict("records"):
        key = row["config_key"]
        path = grid.cache_dir / "artifacts" / f"{key}.mcz"
        data = path.read_bytes()
        model, _ = decode_model(data)
        entry = {"config_key": key, "full": float(row["mce"])}
        t0 = time.perf_counter()
        full = evaluator.measure(model, data, ["mce"])["mce"].value
        entry["full_seconds"] = time.perf_counter() - t0
        assert abs(full - row["mce"]) < 1e-9, (key, full, row["mce"])
        for label, fid in subsets.items():
            view = evaluator.at_fidelity(fid)
            view.reference_for(grid.arch)  # the reference on the subset, once
            t0 = time.perf_counter()
            entry[label] = float(view.measure(model, data, ["mce"])["mce"].value)
            entry[f"{label} seconds"] = time.perf_counter() - t0
        rows.append(entry)
    out["mce_subsets"] = {}
    full = np.array([r["full"] for r in rows])
    for label in subsets:
        est = np.array([r[label] for r in rows])
        t = kendalltau(est, full)
        out["mce_subsets"][label] = {
            "tau": float(t.statistic),
            "p": float(t.pvalue),
            "cost_vs_full_mce": float(
                np.median([r[f"{label} seconds"] / r["full_seconds"] for r in rows])
            ),
        }
    out["mce_models"] = n_real
    TAU.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(TAU)
    print(json.dumps({k: v for k, v in out.items() if k != "per_objective"}, indent=1))
    return out


# -- replay --------------------------------------------------------------------------------
def _curve_by_seconds(study, cfg, bounds=None):
    """(cumulative evaluation seconds, normalized hypervolume) after each complete trial,
    counting every evaluation before it (lower rungs included); ``bounds``: the
    hypervolume's (default: those of the tabular benchmark's baseline)."""
    from moo_compress import record
    from moo_compress.archive import ParetoArchive

    archive = ParetoArchive(cfg.directions, bounds if bounds is not None else hv_bounds(cfg))
    spent, xs, ys = 0.0, [], []
    for t in sorted(study.trials, key=lambda t: t.number):
        spent += record.evaluation_seconds(t)
        if t.state.name == "COMPLETE":
            if record.is_feasible(t):
                archive.add(t.values)
            xs.append(spent)
            ys.append(archive.hypervolume())
    return np.array(xs), np.array(ys)


def _hv_at(xs, ys, seconds: float) -> float:
    i = np.searchsorted(xs, seconds, side="right")
    return float(ys[i - 1]) if i else 0.0


def _seconds_to(xs, ys, target: float) -> float:
    hit = np.flatnonzero(ys >= target - 1e-12)
    return float(xs[hit[0]]) if hit.size else float("inf")


def _default_driver() -> str:
    """The quick start's shipped driver (what mo-asha must beat to be worth switching to)."""
    return yaml.safe_load(QUICKSTART.read_text())["driver"]["name"]


def replay(n_seeds: int = N_SEEDS, horizon: float = 2.0, first_seed: int = FIRST_SEED) -> dict:
    """Full-fidelity drivers for ``horizon`` x 40 evaluations, mo-asha variants for
    ``horizon`` x the best one's seconds at 40, ``n_seeds`` seeds each from ``first_seed``."""
    import pandas as pd

    from moo_compress._utils.stats import bootstrap_median_interval, compare
    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.replay import replay as run_replay

    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    seeds = list(range(first_seed, first_seed + n_seeds))
    default = _default_driver()
    out: dict = {
        "seeds": n_seeds,
        "seed_values": seeds,
        "at": AT,
        "default_driver": default,
        "full": {},
        "mo_asha": {},
    }
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _variant(Path(tmp))
        served = dict.fromkeys(frame.columns.drop(["config_key", "eval_seconds", "technique"]))
        served = [c for c in served if c in cfg.record]
        table = TableEvaluator.from_frame(frame, served, baseline=baseline, arch=cfg.arch)
        from moo_compress.evaluation.table import fidelity_id

        sub = pd.read_parquet(SUBSET_TABLE)
        table.subsets[fidelity_id(SUBSET)] = {
            k: {"mce": float(v)} for k, v in zip(sub["config_key"], sub["mce"], strict=True)
        }
        out["attainable_hv"] = _attainable(frame, cfg, baseline)
        out["hv_bounds"] = [list(b) for b in hv_bounds(cfg, baseline)]
        for driver in FULL_DRIVERS:
            runs = [
                _curve_by_seconds(
                    run_replay(cfg, table, seed=s, n_trials=int(horizon * AT), driver=driver), cfg
                )
                for s in seeds
            ]
            curves[driver] = runs
            out["full"][driver] = {
                "hv_at_40": _stats(np.array([r[1][AT - 1] for r in runs])),
                "seconds_at_40": _stats(np.array([r[0][AT - 1] for r in runs])),
            }
            print(driver, out["full"][driver], flush=True)
        best = max(FULL_DRIVERS, key=lambda d: out["full"][d]["hv_at_40"]["median"])
        target = out["full"][best]["hv_at_40"]["median"]
        budget = out["full"][best]["seconds_at_40"]["median"]
        out.update({"best_full": best, "target_hv": target, "target_seconds": budget})
        # every full-fidelity driver at the same evaluation seconds (per seed)
        equal = {d: np.array([_hv_at(x, y, budget) for x, y in curves[d]]) for d in FULL_DRIVERS}
        for driver in FULL_DRIVERS:
            at40 = np.array([r[1][AT - 1] for r in curves[driver]])
            random40 = np.array([r[1][AT - 1] for r in curves["optuna-random"]])
            out["full"][driver].update(
                {
                    "hv_at_40_per_seed": [float(v) for v in at40],
                    "hv_at_40_vs_random": compare(at40, random40),
                    "hv_at_equal_seconds": _stats(equal[driver]),
                    "hv_at_equal_seconds_per_seed": [float(v) for v in equal[driver]],
                    "hv_at_equal_seconds_vs_random": compare(equal[driver], equal["optuna-random"]),
                }
            )
        variants = {
            "mo-asha (tpe, eta 3)": {"name": "mo-asha", "sampler": "tpe", "eta": 3},
            "mo-asha (tpe, eta 5)": {"name": "mo-asha", "sampler": "tpe", "eta": 5},
            "mo-asha (random, eta 3)": {"name": "mo-asha", "sampler": "random", "eta": 3},
            "mo-asha (random, eta 5)": {"name": "mo-asha", "sampler": "random", "eta": 5},
            "mo-asha (tpe, eta 3, rung 0 with mCE on 3 corruptions at severity 3)": {
                "name": "mo-asha",
                "sampler": "tpe",
                "eta": 3,
                "rungs": [SUBSET_RUNG],
            },
        }
        for label, section in variants.items():
            vcfg = _variant(Path(tmp), {**section, "n_startup_trials": 8})
            vcfg = dataclasses.replace(vcfg, budget_seconds=horizon * budget, n_trials=1_000_000)
            table.shares = shares(vcfg)  # each rung charged its measured share
            runs = []
            for s in seeds:
                study = run_replay(vcfg, table, seed=s, n_trials=1_000_000)
                runs.append(_curve_by_seconds(study, vcfg))
            table.shares = {"build": 1.0}
            curves[label] = runs
            ratio = np.array([_seconds_to(x, y, target) / budget for x, y in runs])
            hv_equal = np.array([_hv_at(x, y, budget) for x, y in runs])
            out["mo_asha"][label] = {
                "driver": section,
                "shares": shares(vcfg),
                "seconds_to_target_ratio": {
                    **_stats(ratio),
                    "seeds": len(ratio),
                    "ci95_of_median": list(bootstrap_median_interval(ratio)),
                },
                "reached_within_horizon": float(np.mean(np.isfinite(ratio))),
                "hv_at_equal_seconds": _stats(hv_equal),
                "hv_at_equal_seconds_per_seed": [float(v) for v in hv_equal],
                "hv_at_equal_seconds_vs_random": compare(hv_equal, equal["optuna-random"]),
                f"hv_at_equal_seconds_vs_{default}": compare(hv_equal, equal[default]),
                "full_evaluations_at_equal_seconds": _stats(
                    np.array([np.searchsorted(x, budget, side="right") for x, _ in runs], float)
                ),
            }
            print(label, out["mo_asha"][label], flush=True)
    out["horizon"] = horizon
    REPLAY.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(REPLAY)
    _plot(curves, out, RESULTS / "multi_fidelity.png")
    return out


def _plot(curves: dict, out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, out["horizon"] * out["target_seconds"], 200)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, (label, runs) in enumerate(curves.items()):
        if label in FULL_DRIVERS and label not in (out["best_full"], "optuna-random"):
            continue
        ys = np.array([[_hv_at(x, y, s) for s in grid] for x, y in runs])
        upto = grid <= max(x[-1] for x, _ in runs)
        ax.plot(grid[upto], np.median(ys, axis=0)[upto], color=f"C{i}", label=label)
        ax.fill_between(
            grid[upto],
            np.percentile(ys, 25, axis=0)[upto],
            np.percentile(ys, 75, axis=0)[upto],
            color=f"C{i}",
            alpha=0.15,
        )
    ax.axhline(out["target_hv"], color="k", ls=":", lw=1, label=f"{out['best_full']} at 40")
    ax.axvline(out["target_seconds"], color="grey", ls=":", lw=1)
    ax.set_xlabel("evaluation seconds (table seconds x each rung's measured share)")
    ax.set_ylabel("normalized hypervolume of the feasible archive")
    ax.set_title(f"Replayed on the tabular benchmark: median and IQR over {out['seeds']} seeds")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import _provenance

    _provenance.record(path)
    plt.close(fig)


# -- real ----------------------------------------------------------------------------------
def real(n_seeds: int = 3, first_seed: int = FIRST_SEED) -> dict:
    """The quick start with its shipped driver (``optuna-tpe``, 32 trials), then mo-asha for
    the same evaluation seconds, for ``n_seeds`` study seeds each (from ``first_seed``)."""
    from moo_compress._utils.stats import compare
    from moo_compress.config import load_study_config
    from moo_compress.runner import run_search

    default = _default_driver()
    out: dict = {
        "seeds": list(range(first_seed, first_seed + n_seeds)),
        "full_driver": default,
        "runs": [],
    }
    for seed in out["seeds"]:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'real.db'}"
            # the quick start as shipped (its driver and options), only the seed changes
            full = dataclasses.replace(
                load_study_config(QUICKSTART, storage=url), name=f"real_full_{seed}", seed=seed
            )
            assert full.driver == default, (full.driver, default)
            t0 = time.perf_counter()
            s_full = run_search(full, show_progress=False, log=lambda m: None)
            s_full["wall_seconds"] = time.perf_counter() - t0
            print(default, seed, s_full, flush=True)
            spent = _spent_seconds(full, url)
            mf = load_study_config(MO_ASHA_QUICKSTART, storage=url)
            mf = dataclasses.replace(
                mf,
                name=f"real_mo_asha_{seed}",
                seed=seed,
                budget_seconds=spent,
                n_trials=1_000_000,
            )
            t0 = time.perf_counter()
            s_mf = run_search(mf, show_progress=False, log=lambda m: None)
            s_mf["wall_seconds"] = time.perf_counter() - t0
            s_mf["budget_seconds"] = spent
            s_mf["rungs"] = _rung_counts(mf, url)
            print("mo-asha", seed, s_mf, flush=True)
        out["runs"].append({"seed": seed, default: s_full, "mo-asha": s_mf})
    hv = {
        d: np.array([float(r[d]["hypervolume"]) for r in out["runs"]]) for d in (default, "mo-asha")
    }
    out["hypervolume"] = {d: _stats(v) for d, v in hv.items()}
    out[f"mo-asha_vs_{default}"] = compare(hv["mo-asha"], hv[default])
    REAL.write_text(json.dumps(out, indent=1, default=str) + "\n")
    import _provenance

    _provenance.record(REAL)
    return out


def _spent_seconds(cfg, url) -> float:
    import optuna

    from moo_compress import record

    study = optuna.load_study(study_name=cfg.name, storage=url)
    return float(sum(record.evaluation_seconds(t) for t in study.trials))


def _rung_counts(cfg, url) -> dict:
    import optuna

    from moo_compress import record

    study = optuna.load_study(study_name=cfg.name, storage=url)
    counts: dict[str, int] = {}
    for t in study.trials:
        info = record.rung(t)
        if info and t.state.name in ("PRUNED", "COMPLETE"):
            counts[str(info["rung"])] = counts.get(str(info["rung"]), 0) + 1
    return counts


# -- feasible: the share of feasible configurations at rung 0 ------------------------------
FEASIBLE = RESULTS / "multi_fidelity_feasible.json"


def _code_provenance(code: Path) -> dict:
    """The checkout whose package is measured: its path, commit and whether it has
    uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(code), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    return {
        "path": str(code),
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _rung0_feasible(study) -> tuple[int, int]:
    """(feasible, all) rung-0 results of a mo-asha study."""
    from moo_compress import record

    rung0 = [
        t
        for t in study.trials
        if t.state.name == "PRUNED" and (record.rung(t) or {}).get("rung") == 0
    ]
    return sum(record.is_feasible(t) for t in rung0), len(rung0)


def feasible(n_seeds: int = 30, label: str = "after", code: Path | None = None) -> dict:
    """Replay mo-asha (tpe and nsga2 base samplers) ``n_seeds`` times each on the table and
    give the share of feasible rung-0 configurations; stored under ``label``."""
    import os
    import platform
    from datetime import datetime, timezone

    import pandas as pd

    code = (code or ROOT).resolve()
    if "moo_compress" in sys.modules:
        raise SystemExit("feasible: moo_compress was imported before --code could apply")
    sys.path.insert(0, str(code))
    import moo_compress
    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.replay import replay as run_replay

    if not Path(moo_compress.__file__).resolve().is_relative_to(code):
        raise SystemExit(f"feasible: moo_compress was imported from {moo_compress.__file__}")
    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    seconds = float(json.loads(REPLAY.read_text())["target_seconds"])
    out: dict = {
        "seeds": n_seeds,
        "budget_seconds": seconds,
        "budget_from": "target_seconds of multi_fidelity.json (replay's equal-seconds point)",
        "code": _code_provenance(code),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "samplers": {},
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _variant(Path(tmp))
        served = dict.fromkeys(frame.columns.drop(["config_key", "eval_seconds", "technique"]))
        served = [c for c in served if c in cfg.record]
        table = TableEvaluator.from_frame(frame, served, baseline=baseline, arch=cfg.arch)
        for sampler in ("tpe", "nsga2"):
            section = {
                "name": "mo-asha",
                "sampler": sampler,
                "eta": 3,
                "n_startup_trials": 8,
                "population_size": 8,
            }
            vcfg = _variant(Path(tmp), section)
            vcfg = dataclasses.replace(vcfg, budget_seconds=seconds, n_trials=1_000_000)
            table.shares = shares(vcfg)  # each rung charged its measured share
            counts = []
            for s in range(n_seeds):
                counts.append(_rung0_feasible(run_replay(vcfg, table, seed=s, n_trials=1_000_000)))
            table.shares = {"build": 1.0}
            good = np.array([c[0] for c in counts], float)
            total = np.array([c[1] for c in counts], float)
            out["samplers"][sampler] = {
                "driver": section,
                "constraints": [c.label for c in vcfg.constraints],
                "feasible_share_at_rung0": _stats(good / total),
                "feasible_share_at_rung0_pooled": float(good.sum() / total.sum()),
                "rung0_configurations": _stats(total),
                "per_seed": [{"feasible": int(g), "rung0": int(n)} for g, n in counts],
            }
            print(sampler, {k: v for k, v in out["samplers"][sampler].items() if k != "per_seed"})
    out["wall_seconds"] = time.perf_counter() - t0
    stored = json.loads(FEASIBLE.read_text()) if FEASIBLE.exists() else {}
    stored[label] = out
    FEASIBLE.write_text(json.dumps(stored, indent=1) + "\n")
    import _provenance

    _provenance.record(
        FEASIBLE,
        parts={
            k: {"command": v["command"], "code": v["code"], "date": v["date"]}
            for k, v in stored.items()
        },
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=["costs", "tau", "subset-table", "replay", "real", "feasible"]
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="tau: only the promotion order on the table (keeps the stored mCE-subset figures)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help=f"seeds (replay: {N_SEEDS}; real: 3; feasible: 30)"
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        help="first seed (default %(default)s: seeds never used while developing the drivers)",
    )
    parser.add_argument("--label", default="after", help="feasible: the figures' key")
    parser.add_argument("--code", type=Path, default=None, help="feasible: checkout to measure")
    args = parser.parse_args(argv)
    if args.step == "feasible":
        feasible(args.seeds or 30, args.label, args.code)
        return 0
    if args.step == "costs":
        costs()
    elif args.step == "tau":
        tau(table_only=args.table_only)
    elif args.step == "subset-table":
        subset_table()
    elif args.step == "replay":
        replay(args.seeds or N_SEEDS, first_seed=args.first_seed)
    else:
        real(args.seeds or 3, first_seed=args.first_seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
