"""Export Pareto-optimal models for deployment; re-measure an exported model.

Each model directory holds

- ``model.mcz``: the packed artifact whose zipped size gave CR (``artifact.load_model``);
- ``model.onnx``: the float model for ONNX Runtime (opset of the installed onnx, capped at
  what PyTorch exports), verified against PyTorch on the test set at export time;
- ``model.int8.onnx`` (techniques with int8): the very int8 model the search measured;
- ``config.json`` (configuration, evaluation settings, mCE reference: enough to re-measure
  it anywhere), ``metrics.json`` (recorded objectives and details, plus the ``deployment``
  checks: ONNX verification, CR three ways, ONNX Runtime latency) and ``MODEL_CARD.md``.

``manifest.csv`` lists every model with its settings, objectives and the SHA-256 of every
file; ``evaluate`` refuses a directory with a changed, missing or unlisted file. Nothing is
ever unpickled: the artifact is JSON plus raw arrays, the rest is JSON and ONNX protobuf.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress import model_card
from moo_compress import storage as st
from moo_compress.artifact import decode_model, parameter_bits, read_header
from moo_compress.compression.params import config_row
from moo_compress.data.base import to_tensor
from moo_compress.errors import ArtifactError, ConfigError, MooCompressError
from moo_compress.objectives import task_objectives
from moo_compress.report import pareto_records
from moo_compress.selection import parse_selection
from moo_compress.selection import select as satisfies

if TYPE_CHECKING:
    import optuna

    from moo_compress.settings import StudyConfig

__all__ = [
    "CARD",
    "DEFAULT_TOLERANCE",
    "EXACT",
    "MAX_MISMATCH",
    "MIN_AGREEMENT",
    "NOT_COMPARED",
    "RELATIVE_TOLERANCE",
    "evaluate_exported",
    "export_pareto",
    "nothing_to_export",
]

CARD = "MODEL_CARD.md"
DEFAULT_TOLERANCE = 1e-3
MAX_MISMATCH = 0.01  # share of test images whose logits may differ beyond the tolerance
MIN_AGREEMENT = 0.999  # share of test images that must get the same class


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compare(a, b, tolerance: float, what: str, *, exact: bool = False):
    """ONNX Runtime logits ``a`` against the reference's logits ``b`` (same images).

    An image disagrees when one of its logits differs by more than ``tolerance``. Export
    fails when more than 1 % of the images disagree or fewer than 99.9 % get the same class
    (with ``exact``: when anything differs). The small allowance is for models with 8-bit
    activation fake quantization, where a last-bit difference between the two runtimes can
    move a value across a rounding boundary.
    """
    a, b = a.flatten(1), b.flatten(1)  # a detector's output maps: one row per image
    diff = (a - b).abs().amax(1)
    out = {
        "images": len(a),
        "max_abs_logit_diff": float(diff.max()),
        "share_beyond_tolerance": float((diff > tolerance).float().mean()),
        "class_agreement": float((a.argmax(1) == b.argmax(1)).float().mean()),
        "tolerance": tolerance,
    }
    limits = (0.0, 1.0) if exact else (MAX_MISMATCH, MIN_AGREEMENT)
    if out["share_beyond_tolerance"] > limits[0] or out["class_agreement"] < limits[1]:
        raise MooCompressError(
            f"{what}: ONNX Runtime and PyTorch disagree on the test set: "
            f"{100 * out['share_beyond_tolerance']:.2f} % of images have a logit off by more than "
            f"{tolerance:g} (max {out['max_abs_logit_diff']:.3g}), same class for "
            f"{100 * out['class_agreement']:.2f} %; nothing was exported"
        )
    return out


def _deploy(
    name: str,
    recorded: dict[str, float],
    data: bytes,
    evaluator,
    baseline: dict,
    *,
    opset: int,
    tolerance: float,
):
    """ONNX files of one model, their verification, CR three ways and ONNX latency.

    Args:
        recorded: The model's objectives measured by ``evaluator`` (the test split), which
            the int8 ONNX file must reproduce.
    """
    import statistics

    import numpy as np

    # torch: loaded by the export that calls this, not by importing the module
    from moo_compress.objectives.latency import measure_latency
    from moo_compress.onnx_runtime import OnnxModel, export_onnx
    from moo_compress.training import predict_outputs

    def logits(m):
        return predict_outputs(m, x_test)[1]

    model, _ = decode_model(data, builders=evaluator.builders)
    int8 = getattr(model, "int8_spec", None) is not None
    float_model = model.float_model if int8 else model
    x_test = evaluator.dataset.x_test
    onnx_bytes = export_onnx(float_model, baseline["input_shape"], opset)
    files = {"model.onnx": onnx_bytes}
    deployed = OnnxModel(onnx_bytes)
    float_logits = logits(float_model)
    verification = {"onnx": _compare(logits(deployed), float_logits, tolerance, name)}
    if int8:
        files["model.int8.onnx"] = model.onnx_bytes
        deployed = OnnxModel(model.onnx_bytes)
        int8_logits = logits(deployed)
        check = _compare(int8_logits, logits(model), 0.0, f"{name} (int8)", exact=True)
        ((quality, value),) = evaluator.score_outputs(int8_logits).items()
        recorded_value = recorded[quality]
        if value != recorded_value:
            raise MooCompressError(
                f"{name}: the int8 ONNX model's {quality} {value} differs from the measured {recorded_value}"
            )
        check.update(
            {quality: value, f"recorded_{quality}": recorded_value},
            class_agreement_with_float=float(
                (int8_logits.flatten(1).argmax(1) == float_logits.flatten(1).argmax(1))
                .float()
                .mean()
            ),
        )
        verification["int8"] = check
    deploy_file = "model.int8.onnx" if int8 else "model.onnx"
    lat_cfg = evaluator.settings("latency")
    batch = to_tensor(x_test[: lat_cfg["batch_size"]])
    times = measure_latency(deployed, batch, warmup=lat_cfg["warmup"], repeats=lat_cfg["repeats"])
    deployment = {
        "file": deploy_file,
        "opset": opset,
        "verification": verification,
        "cr": {
            "parameter_bits": baseline["bits"] / parameter_bits(data),
            "deflate": recorded.get("cr", float("nan")),
            "onnx_file": baseline["onnx_bytes"] / len(files[deploy_file]),
        },
        "sizes": {
            "parameter_bits": parameter_bits(data),
            "artifact_bytes": len(data),
            **{f"{f}_bytes": len(b) for f, b in files.items()},
            "baseline_parameter_bits": baseline["bits"],
            "baseline_onnx_bytes": baseline["onnx_bytes"],
        },
        "latency": {
            **lat_cfg,
            "median_ms": 1000 * statistics.median(times),
            "p90_ms": 1000 * float(np.percentile(times, 90)),
            "backend": "onnxruntime-cpu",
        },
    }
    return files, deployment


def nothing_to_export(cfg: StudyConfig, study: optuna.Study) -> str:
    """Why ``study`` has no model to export: no completed trial yet, or how many completed
    trials there are and that every one violates the constraints, with each constraint's
    count of trials meeting it and, for one none meets, the best value reached.

    Args:
        cfg: The study as searched (its objective names and constraints are used).
        study: The study.
    """
    from optuna.trial import TrialState

    complete = [
        r
        for r in st.records(study, states=(TrialState.COMPLETE,))
        if all(name in r.objectives for name in cfg.objective_names)
    ]
    if not complete:
        return f"study {cfg.name!r} has no completed trial to export yet"
    bounds = {c.label: c for c in cfg.constraints}
    parts = []
    for label in dict.fromkeys(k for r in complete for k in r.constraints):
        values = [r.constraints[label] for r in complete if label in r.constraints]
        met = sum(v <= 0 for v in values)
        text = f"{label}: met by {met} of {len(values)}"
        c = bounds.get(label)
        reached = [r.objectives[c.objective] for r in complete if c and c.objective in r.objectives]
        if not met and reached:
            higher = c.kind == "min" or c.kind.endswith("drop")
            best = max(reached) if higher else min(reached)
            text += f", best {c.objective} reached {best:.4g} (short by {min(values):.3g})"
        parts.append(text)
    n = len(complete)
    return (
        f"study {cfg.name!r} has {n} completed trial{'s' if n != 1 else ''}, and every one "
        f"violates its constraints ({'; '.join(parts)}): relax `constraints` in the study "
        "file and search again, or pass --include-infeasible to export the Pareto-optimal "
        "models of all completed trials"
    )


def export_pareto(
    cfg: StudyConfig,
    study: optuna.Study,
    out_dir: str | Path,
    *,
    force: bool = False,
    select: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    include_infeasible: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Write every Pareto-optimal model of ``study`` (or those meeting ``select``) to
    ``out_dir``, each verified in ONNX Runtime.

    Artifacts saved during the search are reused when their SHA-256 matches the one recorded
    with the trial; otherwise the model is rebuilt from its configuration (deterministic) and
    must reproduce the recorded accuracy. The directory appears only when every model has
    been written and verified.

    Args:
        cfg: The study configuration, its objectives those the study was searched with.
        study: The study.
        out_dir: The directory to create (new or empty unless ``force``).
        force: Replace a directory that holds files (default False).
        select: Keep only the models meeting clauses such as ``accuracy>=95 and cr>=8``
            (default None: every Pareto-optimal model).
        tolerance: Largest difference of a logit between ONNX Runtime and PyTorch for an
            image to agree (default :data:`DEFAULT_TOLERANCE`); export fails when more than
            :data:`MAX_MISMATCH` of the images disagree.
        include_infeasible: The front of every completed trial, those that violate the
            study's constraints included; ``manifest.csv`` then gives each model's
            ``violation`` (default False: only models that meet every constraint).
        log: Callable for progress messages (default None: silent).

    Returns:
        The rows of ``manifest.csv``, one per model.

    Raises:
        ConfigError: ``out_dir`` exists and is not empty (without ``force``), or ``select``
            is malformed.
        MooCompressError: Nothing to export (no completed trial, or none that meets the
            constraints: the message says which are violated and the best value reached), a
            model cannot be reproduced, or ONNX Runtime disagrees with PyTorch beyond
            ``tolerance``.
    """
    log = log or (lambda msg: None)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ConfigError(
            "out_dir",
            "",
            f"must be a new or empty directory (or replace it: --force, force=True). Got {str(out_dir)!r}, which holds files.",
        )
    meta = st.study_meta(study.user_attrs)
    clauses = parse_selection(select, list(meta["evaluation"]["record"])) if select else []
    front = pareto_records(cfg, study, include_infeasible=include_infeasible)
    if not front:
        raise MooCompressError(nothing_to_export(cfg, study))
    chosen = [r for r in front if satisfies(r.objectives, clauses)]
    if not chosen:
        raise MooCompressError(
            f"none of the {len(front)} Pareto-optimal models satisfies --select {select!r}"
        )
    # torch: the checks above (folder, selection, front) answer before it loads
    from moo_compress.evaluation import make_evaluator
    from moo_compress.onnx_runtime import export_onnx, opset_for_export

    # the search measured on the validation split (used here to rebuild a missing artifact);
    # exported models are also measured on the test split, which the search never saw
    evaluator = make_evaluator(meta["evaluation"], cfg.cache_dir, log=log)
    test_ev = make_evaluator(meta["evaluation"], cfg.cache_dir, log=log, split="test")
    x = test_ev.dataset.x_test
    input_shape = (x.shape[3], x.shape[1], x.shape[2])
    opset = opset_for_export()
    baselines: dict[str, dict[str, Any]] = {}  # per architecture: its own baseline and reference

    def baseline_of(arch: str) -> dict[str, Any]:
        if arch not in baselines:
            baselines[arch] = {
                "input_shape": input_shape,
                "bits": parameter_bits(test_ev.baseline_path_for(arch).read_bytes()),
                "onnx_bytes": len(export_onnx(test_ev.baseline_for(arch), input_shape, opset)),
                "reference": test_ev.reference_for(arch).to_dict(),
            }
        return baselines[arch]

    directions = dict(zip(meta["objectives"], meta["directions"], strict=True))
    front_values = {f"trial-{r.number:05d}": r.objectives for r in chosen}
    staging = Path(
        tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent if out_dir.parent.exists() else None)
    )
    rows = []
    try:
        for rec in chosen:
            result = rec.result
            name = f"trial-{rec.number:05d}"
            path = cfg.cache_dir / "artifacts" / f"{rec.config_key}.mcz"
            data = path.read_bytes() if path.exists() else b""
            if hashlib.sha256(data).hexdigest() != result["artifact_sha256"]:
                log(
                    f"{name}: stored artifact missing or changed; rebuilding it from its configuration"
                )
                rebuilt = evaluator.evaluate(rec.config, rec.config_key)
                q = evaluator.quality
                if rebuilt.values[q] != rec.objectives[q]:
                    raise MooCompressError(
                        f"{name}: rebuilt model has {q} {rebuilt.values[q]}, recorded {rec.objectives[q]}"
                    )
                data = rebuilt.artifact
            arch = evaluator.arch_of(rec.config)
            baseline = baseline_of(arch)
            loaded, _ = decode_model(data, builders=test_ev.builders)
            measured = test_ev.measure(loaded, data, reference=test_ev.reference_for(arch))
            test_values = {k: float(r.value) for k, r in measured.items()}
            files, deployment = _deploy(
                name, test_values, data, test_ev, baseline, opset=opset, tolerance=tolerance
            )
            model_dir = staging / name
            model_dir.mkdir()
            (model_dir / "model.mcz").write_bytes(data)
            for fname, blob in files.items():
                (model_dir / fname).write_bytes(blob)
            config = {
                "study": cfg.name,
                "trial": rec.number,
                "config": rec.config,
                "config_key": rec.config_key,
                "technique": result["technique"],
                # re-measuring (``evaluate``) uses this model's architecture and reference
                "evaluation": {**meta["evaluation"], "arch": arch},
                "reference": baseline["reference"],
                "objectives": [{"name": n, "direction": d} for n, d in directions.items()],
            }
            (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
            metrics = {
                "objectives": rec.objectives,  # validation: what the search saw
                "details": result["details"],
                "test": test_values,
                "test_details": {k: r.details for k, r in measured.items() if r.details},
                "eval_seconds": result["eval_seconds"],
                "deployment": deployment,
            }
            (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
            hashes = {f.name: _sha256(f) for f in sorted(model_dir.iterdir())}
            card = model_card.render(
                name=name,
                study=cfg.name,
                config=rec.config,
                objectives=rec.objectives,
                test=test_values,
                details=result["details"],
                front=front_values,
                directions=directions,
                optimized=list(directions),
                deployment=deployment,
                files=hashes,
            )
            (model_dir / CARD).write_text(card)
            hashes[CARD] = _sha256(model_dir / CARD)
            row = {"model": name, "trial": rec.number, "arch": arch}
            row.update(config_row(rec.config))
            row.update({o: rec.objectives.get(o) for o in task_objectives(cfg.task)})
            row.update({f"test_{o}": test_values.get(o) for o in task_objectives(cfg.task)})
            row.update({f"cr_{k}": v for k, v in deployment["cr"].items()})
            row["onnx_latency_ms"] = deployment["latency"]["median_ms"]
            row["onnx_max_abs_logit_diff"] = deployment["verification"]["onnx"][
                "max_abs_logit_diff"
            ]
            row["deployed_file"] = deployment["file"]
            if include_infeasible:
                row["violation"] = rec.violation
            row.update({f"sha256:{f}": h for f, h in hashes.items()})
            rows.append(row)
            log(
                f"{name}: {deployment['file']} verified (max |logit diff| "
                f"{deployment['verification']['onnx']['max_abs_logit_diff']:.2g}), "
                f"{deployment['latency']['median_ms']:.3g} ms"
            )
        fields = list(dict.fromkeys(k for row in rows for k in row))
        with open(staging / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return rows


def _verify_files(model_dir: Path) -> None:
    """Every file listed for the model exists with its recorded SHA-256; no other file."""
    manifest = model_dir.parent / "manifest.csv"
    if not manifest.is_file():
        raise ArtifactError(
            f"{model_dir}: no manifest.csv in the export directory {model_dir.parent}; cannot verify the files"
        )
    with open(manifest, newline="") as fh:
        rows = {row["model"]: row for row in csv.DictReader(fh)}
    row = rows.get(model_dir.name)
    if row is None:
        raise ArtifactError(f"{model_dir}: not listed in {manifest}")
    listed = {k[len("sha256:") :]: v for k, v in row.items() if k.startswith("sha256:") and v}
    for f, digest in listed.items():
        p = model_dir / f
        if not p.is_file():
            raise ArtifactError(f"{p}: missing (listed in {manifest})")
        if _sha256(p) != digest:
            raise ArtifactError(
                f"{p}: changed since export (SHA-256 differs from {manifest}); refusing to load it"
            )
    extra = sorted(p.name for p in model_dir.iterdir() if p.name not in listed)
    if extra:
        raise ArtifactError(
            f"{model_dir / extra[0]}: not listed in {manifest}; refusing a directory with unknown files"
        )


# How closely a re-measured objective must match the recorded one. The quality objective
# and CR are exact (same images, same artifact bytes); latency is wall-clock time, which
# varies between runs and machines, so it is reported but not compared; every other
# objective is deterministic up to floating-point summation order.
EXACT = ("cr", "accuracy", "map")
NOT_COMPARED = {"latency_ms": "not compared: wall-clock time varies between runs and machines"}
RELATIVE_TOLERANCE = 1e-4


def _check(name: str, recorded: float, measured: float) -> dict[str, Any]:
    import math

    if name in NOT_COMPARED:
        return {"tolerance": "none", "result": NOT_COMPARED[name]}
    if name in EXACT:
        ok, tolerance = measured == recorded, "exact"
    else:
        ok = math.isclose(measured, recorded, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)
        tolerance = f"relative {RELATIVE_TOLERANCE:g}"
    return {"tolerance": tolerance, "result": "ok" if ok else "MISMATCH"}


def _user_data_paths(config: dict[str, Any], model_dir: Path, data_root, corrupted_root) -> None:
    """Put the folders the user named in place of every data path in ``config.json``.

    A model folder is untrusted input: a dataset folder, a corrupted-set folder or a
    reference model path written there is never opened; the robustness reference's errors
    are stored in ``config.json`` itself, so no reference model is loaded either.

    Raises:
        ConfigError: The model was measured on data read from a folder and the user did
            not name it (``--data-root``, ``--corrupted-root``), or named one it does not use.
    """
    ev = config.get("evaluation")
    ds = ev.get("dataset") if isinstance(ev, dict) else None
    if not isinstance(ds, dict) or not isinstance(ds.get("options", {}), dict):
        raise ArtifactError(f"{model_dir / 'config.json'}: no evaluation.dataset settings")
    if not isinstance(config.get("reference"), dict):
        raise ArtifactError(
            f"{model_dir / 'config.json'}: no stored robustness reference (reference errors)"
        )
    options = ds.setdefault("options", {})
    for option, given, present in (
        ("data_root", data_root, "root" in options),
        ("corrupted_root", corrupted_root, bool(ds.get("corrupted_root"))),
    ):
        if present and given is None:
            raise ConfigError(
                option,
                "",
                f"is required: {model_dir} was measured on {ds.get('name')!r} data read from a "
                "folder, and a model folder is never trusted to name a data path; give the "
                "folder yourself.",
            )
        if given is not None and not present:
            raise ConfigError(
                option,
                "",
                f"does not apply: {model_dir} was measured on {ds.get('name')!r} data that no "
                f"such folder holds. Got {str(given)!r}.",
            )
    if data_root is not None:
        options["root"] = str(Path(data_root).resolve())
    if corrupted_root is not None:
        ds["corrupted_root"] = str(Path(corrupted_root).resolve())
    if ev.get("reference", "baseline") != "baseline":  # its errors are config["reference"]
        ev["reference"] = "(stored in config.json)"


def evaluate_exported(
    model_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    data_root: str | Path | None = None,
    corrupted_root: str | Path | None = None,
    trust_builder: str | None = None,
) -> dict[str, Any]:
    """Load an exported model and re-measure every objective.

    Args:
        model_dir: The exported model's directory (inside an export, next to
            ``manifest.csv``).
        cache_dir: Where the baseline and corrupted sets are cached (default None:
            ``$MOO_COMPRESS_CACHE``, else ``~/.cache/moo-compress``).
        log: Callable for progress messages (default None: silent).
        data_root: The dataset folder, for a model measured on data read from one (CIFAR,
            COCO); required then, since a model folder never names a data path.
        corrupted_root: The CIFAR-C style folder, for a model measured on one.
        trust_builder: For a model of a study whose model came from the user's builder:
            that builder, ``"package.module:callable"``, which the caller trusts to be
            imported (default None: such a model is refused, since a model folder never
            makes moo-compress import code of its own accord).

    Returns:
        ``{"recorded": {...}, "measured": {...}, "quality": "accuracy" or "map",
        "quality_matches": bool, "checks": {name: {"tolerance", "result"}},
        "mismatches": [names], "notes": [...]}``: every recorded objective is compared,
        CR and the quality objective exactly, latency not at all (see :data:`NOT_COMPARED`).

    Raises:
        ArtifactError: ``model_dir`` is not an exported model, a file is changed, missing or
            unlisted, or its JSON is malformed.
        ConfigError: ``data_root`` or ``corrupted_root`` is missing where the model needs it,
            or given where it does not; or the model needs a builder ``trust_builder`` does
            not name.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: not an exported model directory")
    _verify_files(model_dir)
    try:
        config = json.loads((model_dir / "config.json").read_text())
        metrics = json.loads((model_dir / "metrics.json").read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{model_dir}: malformed JSON ({exc})") from None
    _user_data_paths(config, model_dir, data_root, corrupted_root)
    data = (model_dir / "model.mcz").read_bytes()
    builder = (read_header(data)[0].get("arch") or {}).get("builder")
    if builder and trust_builder != builder:
        raise ConfigError(
            "trust_builder",
            "",
            f"must name the builder {builder!r} that built {model_dir}'s model: a model folder "
            f"never makes moo-compress import code by itself. Got {trust_builder!r} instead.",
        )
    if trust_builder and not builder:
        raise ConfigError(
            "trust_builder",
            "",
            f"is only for a model built by a user's builder; {model_dir}'s is not. "
            f"Got {trust_builder!r} instead.",
        )
    # torch: the checks of the folder and its files above answer before it loads
    from moo_compress.evaluation import make_evaluator

    model, _ = decode_model(data, builders=(builder,) if builder else ())
    cache = Path(
        cache_dir or os.environ.get("MOO_COMPRESS_CACHE", Path.home() / ".cache" / "moo-compress")
    )
    evaluator = make_evaluator(
        config["evaluation"], cache, reference=config["reference"], log=log, split="test"
    )
    measured = {k: float(r.value) for k, r in evaluator.measure(model, data).items()}
    recorded = metrics["test"]  # export measured the model on the test split too
    checks = {
        name: _check(name, float(recorded[name]), value)
        for name, value in measured.items()
        if isinstance(recorded.get(name), (int, float))
    }
    notes = [f"{name}: {c['result']}" for name, c in checks.items() if name in NOT_COMPARED]
    notes += [f"{name}: recorded but not re-measured" for name in recorded if name not in measured]
    return {
        "model": str(model_dir),
        "recorded": recorded,
        "measured": measured,
        "quality": evaluator.quality,
        "quality_matches": measured[evaluator.quality] == recorded[evaluator.quality],
        "checks": checks,
        "mismatches": [n for n, c in checks.items() if c["result"] == "MISMATCH"],
        "notes": notes,
    }
