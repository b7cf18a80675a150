"""Command-line interface. Heavy libraries are imported inside the commands, so ``--help``
never loads torch.

Exit codes: 0 success, 2 bad input (one line naming file, key, allowed values, bad value),
1 any other failure (one line; set MOO_COMPRESS_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL (default: a SQLite file next to the study file, <study>.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moo-compress",
        description="Multi-objective search over pruning, clustering and quantization of neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("search", help="create or resume a study and search until its budget is met")
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)
    p.add_argument(
        "--n-trials",
        type=int,
        metavar="N",
        help="override budget.n_trials (completed trials in the study)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="override study.seed")
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    p.add_argument(
        "--n-workers",
        type=int,
        default=1,
        metavar="K",
        help="Optuna samplers: start K local worker processes; pymoo: evaluate each generation on a local Dask cluster of K processes",
    )
    p.add_argument(
        "--dask-scheduler",
        metavar="ADDR",
        help="pymoo-nsga2: evaluate generations on this Dask scheduler (tcp://host:port)",
    )

    p = sub.add_parser(
        "worker",
        help="join a study (Optuna sampler drivers) from this process and evaluate trials until its budget is met",
        description="Join a study and evaluate trials until its budget is met. Without "
        "--storage, the storage URL is read from the MOO_COMPRESS_STORAGE environment "
        "variable if set (it keeps a password off the command line, which ps shows to "
        "every user), else from the study file.",
    )
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)
    p.add_argument("--n-trials", type=int, metavar="N", help="override budget.n_trials")
    p.add_argument("--worker-id", metavar="NAME", help="name in logs (default host-pid)")
    p.add_argument("--quiet", action="store_true", help="no per-worker summary line")
    p.add_argument("--json", action="store_true", help="print the worker's summary as JSON")

    p = sub.add_parser(
        "status", help="trial counts, generation, archive size and hypervolume history"
    )
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)

    p = sub.add_parser("pareto", help="print the current Pareto archive")
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--all", action="store_true", help="every completed trial, not only the Pareto archive"
    )

    p = sub.add_parser(
        "export",
        help="write every Pareto-optimal model with config.json, metrics.json and manifest.csv",
    )
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--force", action="store_true", help="replace DIR if it holds files")
    p.add_argument(
        "--select",
        metavar="EXPR",
        help="only the front's models meeting constraints, e.g. 'accuracy>=95 and cr>=8'",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-3,
        metavar="T",
        help="largest |logit difference| allowed between ONNX Runtime and PyTorch (default 1e-3)",
    )

    p = sub.add_parser(
        "report",
        help="reports over a study's trials (--proxy: validity of the clustering proxies)",
    )
    p.add_argument("study", metavar="STUDY.yaml")
    _common(p)
    p.add_argument(
        "--proxy",
        action="store_true",
        help="R^2 and Kendall tau of each proxy against robustness ratio and mCE, with a PNG",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where proxy_validity.csv, proxy_points.csv and proxy_validity.png go "
        "(default: <study>.report next to the study file)",
    )

    p = sub.add_parser(
        "corrupt",
        help="write a corrupted copy of a dataset in the CIFAR-10-C layout (<corruption>.npy, labels.npy)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="a built-in dataset: digits, cifar10, cifar100")
    src.add_argument("--images", metavar="X.npy", help="uint8 images (N, H, W, 3) of your own")
    p.add_argument("--labels", metavar="Y.npy", help="labels (N,) for --images")
    p.add_argument(
        "--root", metavar="DIR", help="folder of the official CIFAR archive (cifar10/100)"
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--corruptions",
        metavar="A,B,...",
        help="corruptions to write (default: the 15 standard and the 4 extra ones)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random corruptions")
    p.add_argument(
        "--test-fraction", type=float, default=0.3, help="digits: share of the test split"
    )

    p = sub.add_parser("evaluate", help="load one exported model and re-measure its objectives")
    p.add_argument("model_dir", metavar="DIR/<model>")
    _common(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    return parser


def _load_cfg(args, **overrides):
    from moo_compress.config import load_study_config

    return load_study_config(args.study, storage=args.storage, **overrides)


def cmd_search(args) -> int:
    from moo_compress.errors import ConfigError
    from moo_compress.search import run_search

    if args.n_workers < 1:
        raise ConfigError("--n-workers", "", f"must be an int >= 1. Got {args.n_workers} instead.")
    cfg = _load_cfg(args, n_trials=args.n_trials, seed=args.seed)
    summary = run_search(
        cfg,
        show_progress=not args.no_progress,
        n_workers=args.n_workers,
        dask_scheduler=args.dask_scheduler,
        study_file=args.study,
    )
    print(
        f"{summary['study']}: {summary['complete']} complete, {summary['failed']} failed; "
        f"archive {summary['archive_size']} models, normalized hypervolume {summary['hypervolume']:.4f}; "
        f"{summary['wall_seconds']:.1f} s ({summary['storage']})"
    )
    return 0


def cmd_worker(args) -> int:
    from moo_compress.errors import ConfigError
    from moo_compress.workers import STORAGE_VARIABLE, run_worker

    if args.storage is None and os.environ.get(STORAGE_VARIABLE):
        args.storage = os.environ.pop(STORAGE_VARIABLE)  # not passed on to child processes
        if "://" not in args.storage:
            raise ConfigError(
                STORAGE_VARIABLE,
                "",
                "must be an Optuna storage URL such as sqlite:///path.db or postgresql://host/db. "
                f"Got {len(args.storage)} characters without '://' instead (not shown: they may "
                "hold a password).",
            )
    cfg = _load_cfg(args, n_trials=args.n_trials)
    s = run_worker(cfg, worker=args.worker_id)
    if args.json:
        print(json.dumps(s))
    elif not args.quiet:
        print(
            f"worker {s['worker']}: evaluated {s['evaluated']}; study has {s['complete']} complete, "
            f"{s['failed']} failed; {s['wall_seconds']:.1f} s ({s['eval_seconds']:.1f} s evaluating, "
            f"{s['database_seconds']:.1f} s on the database, {s['wait_seconds']:.1f} s waiting)"
        )
    return 0


def cmd_status(args) -> int:
    from moo_compress import storage as st
    from moo_compress.report import format_status, status

    cfg = _load_cfg(args)
    study = st.load_existing(cfg, st.storage_url(cfg))
    print(format_status(status(cfg, study)))
    return 0


def cmd_pareto(args) -> int:
    from moo_compress import storage as st
    from moo_compress.objectives import OBJECTIVE_INFO
    from moo_compress.report import archive_shares, format_shares, format_table, pareto_frame

    cfg = _load_cfg(args)
    frame = pareto_frame(cfg, st.load_existing(cfg, st.storage_url(cfg)), all_trials=args.all)
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif args.format == "json":
        print(json.dumps(frame.to_dict(orient="records"), indent=2))
    else:
        quality = "accuracy" if cfg.task == "classification" else "map"
        shown = [o for o in (quality, "cr") if o not in cfg.objective_names] + cfg.objective_names
        hidden = [c for c in frame.columns if c in OBJECTIVE_INFO and c not in shown]
        searched = [v.name for v in cfg.space.searched if v.name in frame.columns]
        layers = [f"layer_{n}" for n in cfg.space.per_layer]
        keep = list(dict.fromkeys(["trial", "arch", "technique", *searched, *layers, *shown]))
        print(format_table(frame[[c for c in keep if c in frame.columns]]))
        if not frame.empty:
            what = "completed trials" if args.all else "archive"
            print(f"\nshare of the {what} ({len(frame)} models)")
            print(format_shares(archive_shares(frame), cfg.space.archs(cfg.arch)))
        if hidden:
            print(
                f"({len(hidden)} more recorded objectives and every setting in --format csv/json)"
            )
    return 0


def cmd_export(args) -> int:
    from moo_compress import storage as st
    from moo_compress.export import export_pareto

    cfg = _load_cfg(args)
    study = st.load_existing(cfg, st.storage_url(cfg))
    rows = export_pareto(
        cfg,
        study,
        args.out,
        force=args.force,
        select=args.select,
        tolerance=args.tolerance,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(
        f"exported {len(rows)} Pareto-optimal models to {args.out} (see {Path(args.out) / 'manifest.csv'})"
    )
    return 0


def cmd_evaluate(args) -> int:
    from moo_compress.export import evaluate_exported

    report = evaluate_exported(args.model_dir)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"{'objective':<14}{'recorded':>14}{'measured':>14}")
        for name, value in report["measured"].items():
            rec = report["recorded"].get(name)
            print(f"{name:<14}{rec if rec is None else f'{rec:.6f}':>14}{value:>14.6f}")
    if not report["quality_matches"]:
        q = report["quality"]
        print(
            f"error: measured {q} {report['measured'][q]} differs from recorded {report['recorded'][q]}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_report(args) -> int:
    from moo_compress import storage as st
    from moo_compress.errors import ConfigError

    if not args.proxy:
        raise ConfigError("report", "", "choose a report: --proxy.")
    from moo_compress.proxy_report import (
        format_validity,
        plot_validity,
        proxy_points,
        proxy_validity,
    )

    cfg = _load_cfg(args)
    study = st.load_existing(cfg, st.storage_url(cfg))
    points = proxy_points(study)
    table = proxy_validity(points)
    print(format_validity(table))
    if len(points) >= 3:
        out = Path(args.out) if args.out else cfg.path.with_suffix(".report")
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "proxy_validity.csv", index=False)
        points.to_csv(out / "proxy_points.csv", index=False)
        plot_validity(points, table, out / "proxy_validity.png")
        print(f"\nwrote {out / 'proxy_validity.csv'}, proxy_points.csv and proxy_validity.png")
    return 0


def cmd_corrupt(args) -> int:
    from moo_compress.corruptions.suite import corrupt_dataset

    names = args.corruptions.split(",") if args.corruptions else None
    summary = corrupt_dataset(
        out=Path(args.out),
        dataset=args.dataset,
        root=args.root,
        images=args.images,
        labels=args.labels,
        names=names,
        seed=args.seed,
        test_fraction=args.test_fraction,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(
        f"wrote {summary['n_corruptions']} corruptions x 5 severities of {summary['n_images']} images "
        f"to {args.out} in {summary['seconds']:.1f} s"
    )
    return 0


COMMANDS = {
    "report": cmd_report,
    "corrupt": cmd_corrupt,
    "search": cmd_search,
    "worker": cmd_worker,
    "status": cmd_status,
    "pareto": cmd_pareto,
    "export": cmd_export,
    "evaluate": cmd_evaluate,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from moo_compress.errors import ConfigError
    from moo_compress.workers import env_threads

    try:
        threads = env_threads()
    except ConfigError as exc:  # bad input: one line, exit code 2
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if threads:  # results are reproducible for a given number of threads per evaluation
        import torch

        torch.set_num_threads(threads)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(
            "interrupted; completed trials are stored, run the same command to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        from moo_compress.errors import MooCompressError

        if os.environ.get("MOO_COMPRESS_DEBUG"):
            raise
        from moo_compress.storage import redact

        if isinstance(exc, MooCompressError):
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            return exc.exit_code
        print(
            f"error: {type(exc).__name__}: {redact(str(exc).splitlines()[0] if str(exc) else '')}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
