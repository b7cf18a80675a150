"""A learning-curve benchmark where fine-tuning matters (issue 26), in the LCBench / YAHPO
style: every configuration of ``learning_curves/space.yaml`` (heavy pruning, low bits, 8
epochs of fine-tuning; the quick start's task otherwise, ``learning_curves/study.yaml``)
built once, its last fine-tuning run paused after 1, 2 and 4 epochs and continued from its
checkpoint to 8 (:func:`moo_compress.compression.pipeline.build`), with its objectives after
each: accuracy, CR and the proxies at 1, 2, 4 and 8 epochs, mCE at 2 and 8.

    python benchmarks/learning_curves.py build     # resumable: one JSON line per configuration
    python benchmarks/learning_curves.py table     # -> results/learning_curves_table.parquet

What it costs is recorded as it is spent, so that a replay charges every rung its measured
cost: ``build_seconds`` at e epochs is the cost of building the model paused there (the first
pause builds from the baseline; each later one continues the run from the checkpoint before
it, and adds that cost); ``scratch_seconds`` is one uninterrupted full build (what a full
evaluation pays), measured apart; each objective's measuring is timed alone. Seconds are CPU
seconds of this process (``time.process_time``) with torch on one thread, so that the table
can be built in the background without another job's load changing them much.

Each configuration also checks the continuation: the model continued to 8 epochs must be
the uninterrupted build's, byte for byte (``continued_equals_full``).
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
LINES = CACHE / "curves.jsonl"
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
    """Each objective's value and CPU seconds, measured alone on the loaded model."""
    from moo_compress.artifact import decode_model

    values, seconds = {}, {}
    for name in names:
        t0 = time.process_time()
        model, _ = decode_model(artifact, builders=ev.builders)
        result = ev.measure(model, artifact, [name], reference=ev.reference_for(arch))[name]
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


def build(limit: int | None = None) -> None:
    """Build the curves of every configuration not in ``LINES`` yet (resumable)."""
    import torch

    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = load_study_config(STUDY)
    ev = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    ev.prepare([cfg.arch])
    CACHE.mkdir(parents=True, exist_ok=True)
    done = set()
    if LINES.exists():
        for line in LINES.read_text().splitlines():
            if line.strip():
                done.add(json.loads(line)["config_key"])
    todo = [(k, c) for k, c in configurations(cfg) if k not in done]
    total = len(done) + len(todo)
    if limit is not None:
        todo = todo[:limit]
    started = time.perf_counter()
    for i, (key, config) in enumerate(todo, start=1):
        row = one(ev, key, config, cfg.arch)
        with LINES.open("a") as f:
            f.write(json.dumps(row) + "\n")
        took = time.perf_counter() - started
        print(
            f"{len(done) + i}/{total} {key}: {row['points']['8']['values']}, "
            f"continued = full: {row['continued_equals_full']} "
            f"({took / i:.1f} s per configuration)",
            flush=True,
        )


def load_lines() -> list[dict]:
    """Every configuration's curve built so far."""
    return [json.loads(line) for line in LINES.read_text().splitlines() if line.strip()]


def table() -> None:
    """Write the curves as a table: one row per (configuration, epochs), with the build and
    measuring seconds, and the baseline's values."""
    import pandas as pd

    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(STUDY)
    rows = []
    for line in load_lines():
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--limit", type=int, default=None, help="at most this many configurations")
    sub.add_parser("table")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.limit)
    else:
        table()


if __name__ == "__main__":
    main()
