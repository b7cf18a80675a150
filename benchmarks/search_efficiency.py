"""Does the search earn its cost? A tabular benchmark of the compression space (issue 14).

Every configuration of ``benchmarks/search_efficiency/grid_space.yaml`` (the default space
on a coarser grid) is evaluated once on the quick-start task, like HPOBench / NAS-Bench-201 /
YAHPO Gym tables; the drivers are then replayed against the table: the real driver code,
search session and Optuna, with a table lookup in place of each compression and in-memory
storage (:func:`moo_compress.replay.replay`).

    python benchmarks/search_efficiency.py build    # the grid study (~1 h on 2 cores; resumes)
    python benchmarks/search_efficiency.py table    # -> results/search_efficiency_table.parquet
    python benchmarks/search_efficiency.py replay   # -> results/search_efficiency.{json,png}

``replay`` runs each driver with 30 seeds (100-129 by default: seeds never used while the
drivers were developed, which used 0-19) on the quick start's objectives and constraint
(studies/quickstart.yaml; 4 objectives), and on its first 3 and 2 objectives, and reports
the normalized hypervolume of the feasible archive after each evaluation (median and
inter-quartile range), the ratio to random sampling at 40 evaluations with the number of
seeds, a bootstrap 95 % interval of the ratio of medians (10,000 resamples, seeded) and a
one-sided Mann-Whitney p-value (``moo_compress._utils.stats``), the p-value against every
other driver, the archive sizes, and the share of the table's attainable hypervolume reached.

    python benchmarks/search_efficiency.py readme   # the README's table from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
GRID_STUDY = HERE / "search_efficiency" / "grid.yaml"
GRID_SPACE = HERE / "search_efficiency" / "grid_space.yaml"
GRID_DB = f"sqlite:///{HERE / '.cache' / 'search_efficiency' / 'grid.db'}"
QUICKSTART = ROOT / "studies" / "quickstart.yaml"
RESULTS = HERE / "results"
TABLE = RESULTS / "search_efficiency_table.parquet"
BASELINE = RESULTS / "search_efficiency_baseline.json"
DRIVERS = ("pymoo-nsga2", "optuna-nsga2", "optuna-tpe", "optuna-random")
AT = 40
#: Replays use seeds FIRST_SEED, FIRST_SEED + 1, ...: seeds 0-19 served while the drivers
#: were developed and tuned, 100 onwards never did.
FIRST_SEED = 100
N_SEEDS = 30
SUFFIX = ""
ABLATED: list[str] = []


def build() -> None:
    """Evaluate every grid configuration (an ordinary study: interrupted, it resumes)."""
    from moo_compress.config import load_study_config
    from moo_compress.runner import run_search

    cfg = load_study_config(GRID_STUDY, storage=GRID_DB)
    summary = run_search(cfg, show_progress=True)
    print(json.dumps(summary, indent=1, default=str))


def table() -> None:
    """Write the grid study's complete trials as the table (one row per configuration:
    variables, technique, evaluation seconds, every objective) and the baseline's values."""
    import optuna
    import pandas as pd

    from moo_compress import record
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(GRID_STUDY, storage=GRID_DB)
    study = optuna.load_study(study_name=cfg.name, storage=GRID_DB)
    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        config = record.config(t)
        rows.append(
            {
                "config_key": record.config_key(t),
                **{v.name: config.get(v.name) for v in cfg.space.searched},
                "technique": record.result(t)["technique"],
                "eval_seconds": float(record.result(t)["eval_seconds"]),
                **record.objectives(t),
            }
        )
    frame = pd.DataFrame(rows).sort_values("config_key").reset_index(drop=True)
    points = 1
    for v in cfg.space.searched:
        points *= len(v.grid_values())
    RESULTS.mkdir(exist_ok=True)
    frame.to_parquet(TABLE, index=False)
    import _provenance

    _provenance.record(TABLE)
    evaluator = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    baseline = evaluator.baseline_values(cfg.arch)
    BASELINE.write_text(json.dumps(baseline, indent=1) + "\n")
    import _provenance

    _provenance.record(BASELINE)
    print(
        f"{len(frame)} distinct models of {points} grid points, "
        f"{frame.eval_seconds.sum() / 3600:.2f} h of evaluation -> {TABLE.relative_to(ROOT)}"
    )


def _study_variant(objectives: list[str], folder: Path):
    """The quick start (its data, model, constraint, driver settings) on the grid space,
    optimizing ``objectives`` (a prefix of the quick start's)."""
    from moo_compress.config import load_study_config

    data = yaml.safe_load(QUICKSTART.read_text())
    data["search_space"] = str(GRID_SPACE)
    data["objectives"] = [o for o in data["objectives"] if o["name"] in objectives]
    data["record"] = "all"
    data["budget"] = {"n_trials": AT}
    path = folder / f"variant{len(objectives)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_study_config(path)


def hv_bounds(cfg, baseline: dict[str, float] | None = None) -> list[tuple[float, float]]:
    """The hypervolume bounds a study of ``cfg`` stores when it is created (derived from the
    baseline and the constraints where the study file sets none), as replays use them.

    Args:
        cfg: The study configuration.
        baseline: The baseline's values (default None: the table's, ``BASELINE``).
    """
    from moo_compress.settings.bounds import study_bounds

    values = baseline if baseline is not None else json.loads(BASELINE.read_text())
    return study_bounds(cfg, lambda arch: values)


def _attainable(frame, cfg, baseline) -> float:
    """Normalized hypervolume of every feasible configuration of the table."""
    from moo_compress.archive import normalized_hypervolume

    values = frame[cfg.objective_names].to_numpy(float)
    ok = np.ones(len(frame), dtype=bool)
    for c in cfg.constraints:
        ok &= np.array(
            [c.value(v, baseline.get(c.objective)) <= 0 for v in frame[c.objective]], dtype=bool
        )
    return normalized_hypervolume(values[ok], cfg.directions, hv_bounds(cfg, baseline))


def replay_all(n_seeds: int, budget: int, first_seed: int = FIRST_SEED) -> dict:
    """Replay every driver ``n_seeds`` times (seeds ``first_seed`` onwards) on 4, 3 and 2
    objectives; write JSON and PNG."""
    import pandas as pd

    from moo_compress import record
    from moo_compress.archive import pareto_indices
    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.replay import STOPPED, hypervolume_curve, replay

    frame = pd.read_parquet(TABLE)
    baseline = json.loads(BASELINE.read_text())
    validity = proxy_validity_on_table(frame)
    quick = yaml.safe_load(QUICKSTART.read_text())
    names = [o["name"] for o in quick["objectives"]]
    out: dict = {
        "table": {
            "file": str(TABLE.relative_to(ROOT)),
            "configurations": len(frame),
            "evaluation_hours": float(frame.eval_seconds.sum() / 3600),
        },
        "seeds": n_seeds,
        "seed_values": list(range(first_seed, first_seed + n_seeds)),
        "budget": budget,
        "at": AT,
        "constraints": quick.get("constraints"),
        "baseline": baseline,
        "proxy_validity": validity,
        "objective_sets": {},
    }
    curves_by_set = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in (len(names), 3, 2):
            cfg = _study_variant(names[:k], Path(tmp))
            served = dict.fromkeys([*cfg.objective_names, *(c.objective for c in cfg.constraints)])
            table_ev = TableEvaluator.from_frame(frame, served, baseline=baseline, arch=cfg.arch)
            bounds = hv_bounds(cfg, baseline)
            attainable = _attainable(frame, cfg, baseline)
            result = {
                "objectives": cfg.objective_names,
                "hv_bounds": [list(b) for b in bounds],
                "attainable_hv": attainable,
            }
            curves = {}
            for driver in DRIVERS:
                hv, sizes, feasible, seconds, wall, stopped = [], [], [], [], [], []
                for seed in range(first_seed, first_seed + n_seeds):
                    t0 = time.perf_counter()
                    study = replay(cfg, table_ev, seed=seed, n_trials=budget, driver=driver)
                    wall.append(time.perf_counter() - t0)
                    curve = hypervolume_curve(study, cfg.directions, bounds)
                    if STOPPED in study.user_attrs:  # gave up early: its archive stays as is
                        stopped.append({"seed": seed, "reason": study.user_attrs[STOPPED]})
                        last = curve[-1] if len(curve) else 0.0
                        curve = np.concatenate([curve, np.full(budget - len(curve), last)])
                    hv.append(curve)
                    done = sorted(
                        (t for t in study.trials if t.state.name == "COMPLETE"),
                        key=lambda t: t.number,
                    )[:AT]
                    ok = [t for t in done if record.is_feasible(t)]
                    vals = np.array([t.values for t in ok], dtype=float).reshape(-1, k)
                    sizes.append(len(pareto_indices(vals, cfg.directions)) if len(vals) else 0)
                    feasible.append(len(ok) / max(1, len(done)))
                    seconds.append(float(sum(record.result(t)["eval_seconds"] for t in done)))
                curves[driver] = np.array(hv)
                at = curves[driver][:, AT - 1]
                result[driver] = {
                    "hv_at_40": _stats(at),
                    "hv_at_40_per_seed": [float(v) for v in at],
                    "share_of_attainable_at_40": _stats(at / attainable),
                    "archive_size_at_40": _stats(np.array(sizes, dtype=float)),
                    "feasible_share": _stats(np.array(feasible)),
                    "evaluation_seconds_at_40": _stats(np.array(seconds)),
                    "replay_seconds": float(np.median(wall)),
                    "stopped_early": stopped,
                }
            _ratios(result, curves)
            out["objective_sets"][str(k)] = result
            curves_by_set[k] = (cfg, curves, attainable)
            print(_summary_line(k, result), flush=True)
    out["ablated"] = {k: ABLATIONS[k] for k in ABLATED}
    _plot(curves_by_set, RESULTS / f"search_efficiency{SUFFIX}.png")
    (RESULTS / f"search_efficiency{SUFFIX}.json").write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(RESULTS / f"search_efficiency{SUFFIX}.json")
    return out


def _ratios(result: dict, curves: dict) -> None:
    """Each driver's hypervolume at 40 evaluations against random sampling's: the ratio of
    medians (with quartiles), seeds, bootstrap 95 % interval and one-sided p-value; and the
    p-value of "this driver's hypervolume tends to be larger" against every other driver."""
    from moo_compress._utils.stats import compare, mann_whitney_greater

    random_at = curves["optuna-random"][:, AT - 1]
    random_median = float(np.median(random_at))
    for driver in DRIVERS:
        at = curves[driver][:, AT - 1]
        stats = compare(at, random_at)
        result[driver]["ratio_to_random_at_40"] = {
            "median": float(np.median(at)) / random_median,
            "q25": float(np.percentile(at, 25)) / random_median,
            "q75": float(np.percentile(at, 75)) / random_median,
            "seeds": stats["n"],
            "ci95": stats["ci95"],
            "p_greater_than_random": stats["p"],
        }
        result[driver]["p_greater_than"] = {
            other: mann_whitney_greater(at, curves[other][:, AT - 1])
            for other in DRIVERS
            if other != driver
        }


def ratio_cell(ratio: dict, bold_below: float = 0.05) -> str:
    """A README table cell: ``**1.13×** [1.02–1.24], p = 0.01``, bold only where the one-sided
    p-value against random sampling is below ``bold_below``.

    Args:
        ratio: A driver's ``ratio_to_random_at_40`` entry.
        bold_below: The significance level (default 0.05).
    """
    value = f"{ratio['median']:.2f}×"
    if ratio["p_greater_than_random"] < bold_below:
        value = f"**{value}**"
    lo, hi = ratio["ci95"]
    return f"{value} [{lo:.2f}–{hi:.2f}], p = {_p(ratio['p_greater_than_random'])}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "< 0.001"


def readme_table(out: dict) -> str:
    """The README's driver table from a ``replay`` result (ratio to random at 40 evaluations,
    bootstrap 95 % interval, one-sided Mann-Whitney p; bold only where p < 0.05).

    Args:
        out: The JSON written by :func:`replay_all`.
    """
    drivers = [d for d in ("optuna-tpe", "optuna-nsga2", "pymoo-nsga2") if d in DRIVERS]
    lines = [
        f"| objectives | {' | '.join(f'`{d}`' for d in drivers)} | random (hv) | whole table (hv) |",
        "|---" * (len(drivers) + 3) + "|",
    ]
    for k, result in out["objective_sets"].items():
        cells = [ratio_cell(result[d]["ratio_to_random_at_40"]) for d in drivers]
        lines.append(
            f"| {k}: {', '.join(result['objectives'])} | {' | '.join(cells)} | "
            f"{result['optuna-random']['hv_at_40']['median']:.3f} | {result['attainable_hv']:.3f} |"
        )
    seeds = out.get("seed_values") or list(range(out["seeds"]))
    lines.append("")
    lines.append(
        f"{out['seeds']} seeds ({seeds[0]}–{seeds[-1]}); ratio of medians [bootstrap 95 % "
        "interval], one-sided Mann-Whitney p against random sampling."
    )
    return "\n".join(lines)


def proxy_validity_on_table(frame) -> list[dict]:
    """How each clustering proxy relates to corrupted accuracy, the robustness ratio and mCE
    over every model of the table (R^2, Kendall tau); written as a CSV too."""
    from moo_compress.proxy_report import proxy_validity

    table = proxy_validity(frame)
    table.to_csv(RESULTS / "search_efficiency_proxy_validity.csv", index=False)
    import _provenance

    _provenance.record(RESULTS / "search_efficiency_proxy_validity.csv")
    return table.to_dict("records")


def _stats(x: np.ndarray) -> dict:
    return {
        "median": float(np.median(x)),
        "q25": float(np.percentile(x, 25)),
        "q75": float(np.percentile(x, 75)),
    }


def _summary_line(k: int, result: dict) -> str:
    parts = []
    for d in DRIVERS:
        r = result[d]["ratio_to_random_at_40"]
        parts.append(
            f"{d}: hv {result[d]['hv_at_40']['median']:.4f} "
            f"({r['median']:.2f}x random [{r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}], "
            f"p {r['p_greater_than_random']:.3g}, n {r['seeds']}, "
            f"archive {result[d]['archive_size_at_40']['median']:.0f})"
        )
    return f"{k} objectives (attainable hv {result['attainable_hv']:.4f}): " + "; ".join(parts)


def _plot(curves_by_set: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves_by_set), figsize=(5.2 * len(curves_by_set), 4.2))
    for ax, (k, (cfg, curves, attainable)) in zip(axes, curves_by_set.items(), strict=True):
        for i, (driver, c) in enumerate(curves.items()):
            x = np.arange(1, c.shape[1] + 1)
            ax.plot(x, np.median(c, axis=0), color=f"C{i}", label=driver)
            ax.fill_between(
                x,
                np.percentile(c, 25, axis=0),
                np.percentile(c, 75, axis=0),
                color=f"C{i}",
                alpha=0.2,
            )
        ax.axhline(attainable, color="k", ls="--", lw=1, label="whole table (feasible)")
        ax.axvline(AT, color="grey", ls=":", lw=1)
        ax.set_title(f"{k} objectives: {', '.join(cfg.objective_names)}", fontsize=9)
        ax.set_xlabel("evaluations (complete trials)")
        ax.set_ylabel("normalized hypervolume of the feasible archive")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"Replayed on the tabular benchmark: median and IQR over {next(iter(curves_by_set.values()))[1]['optuna-random'].shape[0]} seeds",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import _provenance

    _provenance.record(path)
    plt.close(fig)


ABLATIONS = {
    "pymoo-random-parents": "pymoo-nsga2 picks parents at random among the survivors "
    "(pymoo's mixed-variable default) instead of NSGA-II's binary tournament",
    "no-random-after-duplicate": "Optuna samplers never fall back to random sampling after "
    "duplicate proposals (a real search stops after 200 in a row)",
    "random-after-first-duplicate": "Optuna samplers draw the proposal after every "
    "duplicate at random (instead of after 10 in a row)",
}


def ablate(names: list[str]) -> None:
    """Undo driver fixes in this process, to measure what each is worth ("before")."""
    for name in names:
        from moo_compress.drivers.optuna_samplers import OptunaDriver
        from moo_compress.drivers.pymoo_nsga2 import PymooNSGA2Driver

        if name == "pymoo-random-parents":
            PymooNSGA2Driver.tournament_parents = False
        elif name == "no-random-after-duplicate":
            OptunaDriver.random_after_duplicates = None
        elif name == "random-after-first-duplicate":
            OptunaDriver.random_after_duplicates = 1
        else:
            raise SystemExit(f"--ablate: must be one of {sorted(ABLATIONS)}. Got {name!r}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", nargs="?", choices=["build", "table", "replay", "all", "readme"], default="all"
    )
    parser.add_argument("--seeds", type=int, default=N_SEEDS, help="seeds per driver")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        help="first seed (default %(default)s: seeds never used while developing the drivers)",
    )
    parser.add_argument("--budget", type=int, default=60, help="evaluations per replay")
    parser.add_argument(
        "--ablate",
        default="",
        help=f"comma-separated driver fixes to undo ({', '.join(ABLATIONS)}); results go to "
        "search_efficiency_ablated_<names>.{json,png}",
    )
    args = parser.parse_args(argv)
    global SUFFIX
    if args.ablate:
        ABLATED.extend(args.ablate.split(","))
        ablate(ABLATED)
        SUFFIX = "_ablated_" + "+".join(ABLATED)
    if args.step in ("build", "all"):
        build()
    if args.step in ("table", "all"):
        table()
    if args.step in ("replay", "all"):
        replay_all(args.seeds, args.budget, args.first_seed)
    if args.step == "readme":
        path = RESULTS / f"search_efficiency{SUFFIX}.json"
        print(readme_table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
