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

from moo_compress.errors import ConfigError, MooCompressError

__all__ = [
    "Terminated",
    "build_parser",
    "cmd_corrupt",
    "cmd_evaluate",
    "cmd_export",
    "cmd_pareto",
    "cmd_report",
    "cmd_search",
    "cmd_status",
    "cmd_worker",
    "main",
]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL (default: a SQLite file next to the study file, <study>.db)",
    )


def _reading(p: argparse.ArgumentParser) -> None:
    """A command that reads a study: from its study file, or from the database alone."""
    p.add_argument(
        "study",
        metavar="STUDY.yaml",
        nargs="?",
        help="the study file (or give --storage and --study instead)",
    )
    _common(p)
    p.add_argument(
        "--study",
        dest="study_name",
        metavar="NAME",
        help="the study's name: with --storage, read it from the database alone (no study file)",
    )


def _log_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: one JSON line on stderr per trial that finishes in the study (trial, "
        "state, values, feasible, seconds, archive size, hypervolume), for logs read by "
        "schedulers; no progress bar (default text)",
    )


def _trial_log(args, cfg):
    """The JSON trial log of ``--log-format json`` (started), or None."""
    if args.log_format != "json":
        return None
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress import storage as st
    from moo_compress.progress import TrialLog

    return TrialLog(st.storage_url(cfg), cfg.name).start()


def build_parser() -> argparse.ArgumentParser:
    """The ``moo-compress`` argument parser, one subcommand per command."""
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
    _log_format(p)
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
    _log_format(p)

    p = sub.add_parser(
        "status", help="trial counts, generation, archive size and hypervolume history"
    )
    _reading(p)

    p = sub.add_parser("pareto", help="print the current Pareto archive")
    _reading(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--all",
        action="store_true",
        help="every completed trial, not only the Pareto archive (mo-asha: and every "
        "lower-rung evaluation, with its rung and whether it was promoted)",
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
    p.add_argument(
        "--include-infeasible",
        action="store_true",
        help="the front of every completed trial, those that violate the study's constraints "
        "included (manifest.csv gives each model's violation)",
    )

    p = sub.add_parser(
        "report",
        help="write a study's report (report.html, report.md and PNG files) into one folder "
        "(--proxy: only the validity of the clustering proxies)",
    )
    _reading(p)
    p.add_argument(
        "--proxy",
        action="store_true",
        help="only R^2 and Kendall tau of each proxy against robustness ratio and mCE, with a PNG",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="the report's folder (default: <study>.report next to the study file, or "
        "<name>.report in the current folder without one)",
    )
    p.add_argument(
        "--format",
        choices=["md", "html", "both"],
        default="both",
        help="report.md with PNG files, report.html with the images embedded, or both (default)",
    )
    p.add_argument(
        "--axes",
        metavar="A,B[,C]",
        help="the 2 or 3 objectives of the front's 2-D and 3-D views (default: the first "
        "optimized ones)",
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
        "--parameters",
        default="auto",
        help="the published set of corruption parameters: auto (by image size), cifar, "
        "tinyimagenet, imagenet64 or imagenet",
    )
    p.add_argument(
        "--test-fraction", type=float, default=0.3, help="digits: share of the test split"
    )

    p = sub.add_parser("evaluate", help="load one exported model and re-measure its objectives")
    p.add_argument("model_dir", metavar="DIR/<model>")
    _common(p)
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="the dataset folder (CIFAR, COCO) to measure on; a model folder never names it",
    )
    p.add_argument(
        "--corrupted-root",
        metavar="DIR",
        help="the CIFAR-C style folder of corrupted test sets, for a model measured on one",
    )
    p.add_argument(
        "--trust-builder",
        metavar="PKG.MODULE:CALLABLE",
        help="for a model of a study whose model came from your own builder: import that "
        "builder to rebuild it (a model folder never makes moo-compress import code by itself)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    return parser


def _load_cfg(args, **overrides):
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.config import load_study_config

    return load_study_config(args.study, storage=args.storage, **overrides)


def _as_searched(cfg):
    """``cfg`` with the command-line overrides its existing study was searched with
    (``--seed``), for ``search`` and ``worker`` (see :func:`moo_compress.storage.as_searched`);
    a storage that cannot be read here is reported by the checks that follow."""
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress import storage as st

    try:
        meta = st.stored_meta(st.storage_url(cfg), cfg.name)
    except Exception:  # noqa: BLE001 - the storage checks before the search say what is wrong
        return cfg
    searched = st.as_searched(cfg, meta)
    if searched is not cfg:
        print(
            f"note: study {cfg.name!r} was searched with --seed {searched.seed} (the study file "
            f"says {cfg.seed}); resuming it with seed {searched.seed}",
            file=sys.stderr,
        )
    return searched


def cmd_search(args: argparse.Namespace) -> int:
    """``moo-compress search``: create or resume the study and search until its budget is met;
    prints a one-line summary.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.runner import run_search

    if args.n_workers < 1:
        raise ConfigError("--n-workers", "", f"must be an int >= 1. Got {args.n_workers} instead.")
    cfg = _as_searched(_load_cfg(args, n_trials=args.n_trials, seed=args.seed))
    trial_log = _trial_log(args, cfg)
    try:
        summary = run_search(
            cfg,
            show_progress=not args.no_progress and trial_log is None,
            n_workers=args.n_workers,
            dask_scheduler=args.dask_scheduler,
            study_file=args.study,
        )
    finally:
        if trial_log is not None:
            trial_log.stop()
    print(
        f"{summary['study']}: {summary['complete']} complete, {summary['failed']} failed; "
        f"archive {summary['archive_size']} models, normalized hypervolume {summary['hypervolume']:.4f}; "
        f"{summary['wall_seconds']:.1f} s ({summary['storage']})"
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """``moo-compress worker``: one more worker process on a study's shared storage (Optuna
    drivers); the storage may come from the environment instead of ``--storage``.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.settings.reader import check_storage_url
    from moo_compress.workers import STORAGE_VARIABLE, run_worker

    if args.storage is None and os.environ.get(STORAGE_VARIABLE):
        args.storage = os.environ.pop(STORAGE_VARIABLE)  # not passed on to child processes
        check_storage_url(args.storage, STORAGE_VARIABLE, secret=True)
    cfg = _as_searched(_load_cfg(args, n_trials=args.n_trials))
    trial_log = _trial_log(args, cfg)
    try:
        s = run_worker(cfg, worker=args.worker_id)
    finally:
        if trial_log is not None:
            trial_log.stop()
    if args.json:
        print(json.dumps(s))
    elif not args.quiet:
        print(
            f"worker {s['worker']}: evaluated {s['evaluated']}; study has {s['complete']} complete, "
            f"{s['failed']} failed; {s['wall_seconds']:.1f} s ({s['eval_seconds']:.1f} s evaluating, "
            f"{s['database_seconds']:.1f} s on the database, {s['wait_seconds']:.1f} s waiting)"
        )
    return 0


def _warn_changed(cfg, meta) -> None:
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress import storage as st

    changed = st.changed_settings(cfg, meta)
    if changed:
        print(
            f"warning: {cfg.source}: changed since study {cfg.name!r} was searched "
            f"(changed: {', '.join(changed)}); showing the study as it was searched",
            file=sys.stderr,
        )


def _read_study(args):
    """The study a read-only command names (study file, or ``--storage`` and ``--study``),
    opened read-only: ``(view, study, cfg)``; ``cfg`` is None without a study file. A study
    file changed since the search gets a one-line warning naming the changed keys."""
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress import storage as st
    from moo_compress.report import study_view
    from moo_compress.settings.reader import check_storage_url

    cfg = None
    if args.study:
        cfg = _load_cfg(args)
        url = st.storage_url(cfg)
        name = args.study_name or cfg.name
        source, key = ("--study", "") if args.study_name else (cfg.source, "study.name")
    else:
        if not args.storage or not args.study_name:
            raise ConfigError(
                args.command,
                "",
                "needs a study file (STUDY.yaml), or --storage URL and --study NAME to read a "
                f"study from its database alone. Got --storage {args.storage or '(none)'} and "
                f"--study {args.study_name or '(none)'}.",
            )
        check_storage_url(args.storage, "--storage")
        url, name, source, key = args.storage, args.study_name, "--study", ""
    study, meta = st.load_for_reading(url, name, source=source, key=key)
    if cfg is not None and cfg.name == name:
        cfg = st.as_searched(cfg, meta)  # a --seed of the search is no edit of the file
        _warn_changed(cfg, meta)
    return study_view(study, meta, cfg), study, cfg


def cmd_status(args: argparse.Namespace) -> int:
    """``moo-compress status``: trial counts, generation, archive and hypervolume history.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.report import format_status, status

    view, study, _ = _read_study(args)
    print(format_status(status(view, study)))
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    """``moo-compress pareto``: the Pareto archive (or every completed trial) as a table,
    CSV or JSON, with the archive's shares of architectures and techniques.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.objectives import OBJECTIVE_INFO
    from moo_compress.report import archive_shares, format_shares, format_table, pareto_frame

    view, study, _ = _read_study(args)
    frame = pareto_frame(view, study, all_trials=args.all)
    rungs = "rung" in frame.columns  # --all of a multi-fidelity study: its lower rungs too
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif args.format == "json":
        rows = frame.to_dict(orient="records")
        if rungs:  # objectives not measured at a lower rung: null, not NaN (invalid JSON)
            rows = [
                {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}
                for row in rows
            ]
        print(json.dumps(rows, indent=2))
    else:
        quality = "accuracy" if view.task == "classification" else "map"
        shown = [o for o in (quality, "cr") if o not in view.objective_names] + view.objective_names
        hidden = [c for c in frame.columns if c in OBJECTIVE_INFO and c not in shown]
        searched = [n for n in view.searched if n in frame.columns]
        layers = [f"layer_{n}" for n in view.per_layer]
        first = ["trial", "rung", "status", "promoted_to"] if rungs else ["trial"]
        keep = list(dict.fromkeys([*first, "arch", "technique", *searched, *layers, *shown]))
        print(format_table(frame[[c for c in keep if c in frame.columns]], blank_missing=rungs))
        complete = frame[frame["status"] == "complete"] if rungs else frame
        if not complete.empty:
            what = "completed trials" if args.all else "archive"
            print(f"\nshare of the {what} ({len(complete)} models)")
            print(format_shares(archive_shares(complete), view.archs))
        if rungs:
            print(
                f"({len(frame) - len(complete)} lower-rung evaluations listed: each is one "
                "configuration measured at a cheaper rung; status tells whether it was promoted)"
            )
        if hidden:
            print(
                f"({len(hidden)} more recorded objectives and every setting in --format csv/json)"
            )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``moo-compress export``: export the Pareto-optimal models (of the objectives the study
    stores) that satisfy ``--select``.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    import dataclasses

    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress import storage as st
    from moo_compress.export import export_pareto
    from moo_compress.settings import ObjectiveSpec

    cfg = _load_cfg(args)
    study, meta = st.load_for_reading(
        st.storage_url(cfg), cfg.name, source=cfg.source, key="study.name"
    )
    cfg = st.as_searched(cfg, meta)  # a --seed of the search is no edit of the file
    _warn_changed(cfg, meta)
    # the front as searched (the objectives the study stores), as `pareto` shows it
    stored = tuple(
        ObjectiveSpec(n, d, (float(b[0]), float(b[1])))
        for n, d, b in zip(
            meta["objectives"], meta["directions"], st.hypervolume_bounds(meta), strict=True
        )
    )
    cfg = dataclasses.replace(cfg, objectives=stored)
    rows = export_pareto(
        cfg,
        study,
        args.out,
        force=args.force,
        select=args.select,
        tolerance=args.tolerance,
        include_infeasible=args.include_infeasible,
        log=lambda m: print(m, file=sys.stderr),
    )
    violating = sum(float(r.get("violation", 0.0)) > 0 for r in rows)
    extra = f", {violating} of them violate the constraints" if violating else ""
    print(
        f"exported {len(rows)} Pareto-optimal models{extra} to {args.out} (see {Path(args.out) / 'manifest.csv'})"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``moo-compress evaluate``: measure an exported model again and compare with what was
    recorded.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 1 when a measurement does not match the record, else 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.export import evaluate_exported

    report = evaluate_exported(
        args.model_dir,
        data_root=args.data_root,
        corrupted_root=args.corrupted_root,
        trust_builder=args.trust_builder,
    )
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"{'objective':<14}{'recorded':>14}{'measured':>14}  check")
        for name, value in report["measured"].items():
            rec = report["recorded"].get(name)
            check = report["checks"].get(name, {}).get("result", "not recorded")
            print(f"{name:<14}{rec if rec is None else f'{rec:.6f}':>14}{value:>14.6f}  {check}")
        for note in report["notes"]:
            print(note)
    if report["mismatches"]:
        parts = [
            f"{name} measured {report['measured'][name]:.6g}, recorded "
            f"{report['recorded'][name]:.6g} ({report['checks'][name]['tolerance']})"
            for name in report["mismatches"]
        ]
        print(f"error: {args.model_dir}: {'; '.join(parts)}", file=sys.stderr)
        return 1
    return 0


REPORTS = {
    "(none)": "the study's report: the front, hypervolume over evaluations and time, what "
    "the archive is made of, robustness of the front, extremes and knee, parameter "
    "importance, proxy validity (and seed 001's ANOVA tables for that design), as "
    "report.html (self-contained) and report.md with PNG files (--out DIR, --format, --axes)",
    "--proxy": "only R^2 and Kendall tau of each clustering proxy (proxy_purity, proxy_acc, ...) "
    "against the robustness ratio and mCE over the study's completed trials, with "
    "proxy_validity.csv, proxy_points.csv and a PNG (--out DIR)",
}


def _report_folder(args, view, cfg) -> Path:
    if args.out:
        return Path(args.out)
    return cfg.path.with_suffix(".report") if cfg else Path(f"{view.name}.report")


def cmd_report(args: argparse.Namespace) -> int:
    """``moo-compress report``: without a study, list the reports; with one, write its
    report folder (report.html, report.md, PNG files) and print where it is; with
    ``--proxy``, only the clustering proxies' validity, written as CSV files and a PNG when
    there are 3 points.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """

    if not args.study and not args.storage and not args.study_name:
        print("moo-compress report writes these reports over a study's trials:")
        for flag, what in REPORTS.items():
            print(f"  {flag:<8} {what}")
        print("for example: moo-compress report STUDY.yaml  (or: report STUDY.yaml --proxy)")
        return 0
    axes = None
    if args.axes is not None:
        axes = [a.strip() for a in args.axes.split(",")]
        if not 2 <= len(axes) <= 3 or not all(axes):
            raise ConfigError(
                "--axes",
                "",
                f"must name 2 or 3 objectives, e.g. accuracy,cr. Got {args.axes!r} instead.",
            )
    if not args.proxy:
        # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
        from moo_compress.study_report import write_report

        view, study, cfg = _read_study(args)
        out = _report_folder(args, view, cfg)
        try:
            written = write_report(
                view,
                study,
                out,
                fmt=args.format,
                axes=axes,
                log=lambda m: print(m, file=sys.stderr),
            )
        except ValueError as exc:
            raise ConfigError("--axes", "", str(exc).replace("axes must", "must", 1)) from None
        pngs = [f for f in written["files"] if f.endswith(".png")]
        main_file = "report.html" if "report.html" in written["files"] else "report.md"
        print(
            f"{view.name}: report with {len(written['sections'])} sections, archive of "
            f"{written['archive_size']} models" + (f", {len(pngs)} PNG files" if pngs else "")
        )
        print(f"wrote {out / main_file}" + (" and report.md" if args.format == "both" else ""))
        return 0
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.proxy_report import (
        format_validity,
        plot_validity,
        proxy_points,
        proxy_validity,
    )

    view, study, cfg = _read_study(args)
    points = proxy_points(study)
    table = proxy_validity(points)
    print(format_validity(table))
    if len(points) >= 3:
        out = _report_folder(args, view, cfg)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "proxy_validity.csv", index=False)
        points.to_csv(out / "proxy_points.csv", index=False)
        plot_validity(points, table, out / "proxy_validity.png")
        print(f"\nwrote {out / 'proxy_validity.csv'}, proxy_points.csv and proxy_validity.png")
    return 0


def cmd_corrupt(args: argparse.Namespace) -> int:
    """``moo-compress corrupt``: write a "-C" version of a test set.

    Args:
        args: The parsed command line.

    Returns:
        The exit code: 0.
    """
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
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
        parameters=args.parameters,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(
        f"wrote {summary['n_corruptions']} corruptions x 5 severities of {summary['n_images']} images "
        f"({summary['parameters']} parameters) to {args.out} in {summary['seconds']:.1f} s"
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm, Kubernetes and systemd send before SIGKILL): handled as Ctrl-C is,
    so the running trial is marked interrupted before the process ends."""


def _on_sigterm(signum, frame) -> None:
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the cleanup finish
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command (the ``moo-compress`` entry point).

    Errors become one line on stderr (``MOO_COMPRESS_DEBUG=1`` re-raises them); SIGTERM is
    handled as Ctrl-C is.

    Args:
        argv: The arguments after the program name (default None: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 success, 1 failure, 2 bad input, 130 interrupted, 143 terminated.
    """
    import signal
    import threading

    args = build_parser().parse_args(argv)
    # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
    from moo_compress.workers import env_threads

    try:
        threads = env_threads()
    except ConfigError as exc:  # bad input: one line, exit code 2
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if threads:  # results are reproducible for a given number of threads per evaluation
        import torch

        torch.set_num_threads(threads)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(
            f"{how}; completed trials are stored, run the same command to resume",
            file=sys.stderr,
        )
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        if os.environ.get("MOO_COMPRESS_DEBUG"):
            raise
        # loaded when the command runs: ``--help`` loads no numpy, YAML or torch
        from moo_compress import storage as st
        from moo_compress.storage import redact

        if isinstance(exc, MooCompressError):
            exc = _as_flag(exc)
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            return exc.exit_code
        url = getattr(args, "storage", None) or _default_storage(args)
        if url and st.is_storage_error(exc):  # Optuna's "e.g. exceeding max length" hides it
            print(f"error: {st.describe_storage_error(exc, url)}", file=sys.stderr)
            return 1
        print(
            f"error: {type(exc).__name__}: {redact(str(exc).splitlines()[0] if str(exc) else '')}",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


#: Settings the layers below name by their keyword (``run_search(n_workers=...)``,
#: ``load_study_config(seed=...)``) and the command line gives as these flags.
#: Keyword settings of the layers below, by the flag that sets them (their errors are shown
#: with the flag).
FLAGS = {
    "n_workers": "--n-workers",
    "dask_scheduler": "--dask-scheduler",
    "seed": "--seed",
    "n_trials": "--n-trials",
    "storage": "--storage",
    "out_dir": "--out",
    "select": "--select",
    "data_root": "--data-root",
    "corrupted_root": "--corrupted-root",
    "trust_builder": "--trust-builder",
}


def _as_flag(exc: Exception) -> Exception:
    """A ``ConfigError`` about a keyword setting, told about its command-line flag."""

    if isinstance(exc, ConfigError) and not exc.key and exc.source in FLAGS:
        return ConfigError(FLAGS[exc.source], exc.key, exc.message)
    return exc


def _default_storage(args) -> str | None:
    """The storage a command used when ``--storage`` was not given (for error messages)."""
    study = getattr(args, "study", None)
    if not study:
        return None
    try:
        return _load_cfg(args).storage or f"sqlite:///{Path(study).resolve().with_suffix('.db')}"
    except Exception:  # noqa: BLE001 - only for naming the file in a message
        return None


if __name__ == "__main__":
    raise SystemExit(main())
