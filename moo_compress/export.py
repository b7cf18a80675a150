"""Export the Pareto archive as deployable packed models; re-measure an exported model.

Each model directory holds ``model.mcz`` (the packed artifact whose zipped size gave CR),
``config.json`` (pipeline configuration, evaluation settings and the mCE reference, enough to
re-measure it anywhere) and ``metrics.json`` (recorded objectives and details). ``manifest.csv``
lists all of them with the SHA-256 of every file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from moo_compress.compression.params import config_row
from moo_compress.errors import ArtifactError, ConfigError, MooCompressError
from moo_compress.objectives import OBJECTIVE_INFO

FILES = ("model.mcz", "config.json", "metrics.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_pareto(
    cfg, study, out_dir: str | Path, *, force: bool = False, log=None
) -> list[dict[str, Any]]:
    """Write every Pareto-optimal model of ``study`` under ``out_dir``.

    Artifacts saved during the search are reused when their SHA-256 matches the one recorded
    with the trial; otherwise the model is rebuilt from its configuration (deterministic) and
    must reproduce the recorded accuracy.

    Raises:
        ConfigError: ``out_dir`` exists and is not empty (without ``force``).
        MooCompressError: The archive is empty or a model cannot be reproduced.
    """
    from moo_compress.evaluation import Evaluator
    from moo_compress.report import pareto_records

    log = log or (lambda msg: None)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ConfigError(
            "--out",
            "",
            f"must be a new or empty directory (or pass --force to replace it). Got {str(out_dir)!r}, which holds files.",
        )
    front = pareto_records(cfg, study)
    if not front:
        raise MooCompressError(f"study {cfg.name!r} has no completed trial to export yet")
    reference = None
    evaluator = None
    meta = study.user_attrs["moo_compress"]
    staging = Path(
        tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent if out_dir.parent.exists() else None)
    )
    rows = []
    try:
        for rec in front:
            result = rec.attrs["result"]
            name = f"trial-{rec.number:05d}"
            path = cfg.cache_dir / "artifacts" / f"{rec.config_key}.mcz"
            data = path.read_bytes() if path.exists() else b""
            if hashlib.sha256(data).hexdigest() != result["artifact_sha256"]:
                log(
                    f"{name}: stored artifact missing or changed; rebuilding it from its configuration"
                )
                if evaluator is None:
                    evaluator = Evaluator(meta["evaluation"], cfg.cache_dir, log=log)
                rebuilt = evaluator.evaluate(rec.config, rec.config_key)
                if rebuilt.values["accuracy"] != rec.attrs["objectives"]["accuracy"]:
                    raise MooCompressError(
                        f"{name}: rebuilt model has accuracy {rebuilt.values['accuracy']}, recorded {rec.attrs['objectives']['accuracy']}"
                    )
                data = rebuilt.artifact
            if reference is None:
                if evaluator is None:
                    evaluator = Evaluator(meta["evaluation"], cfg.cache_dir, log=log)
                reference = evaluator.reference.to_dict()
            model_dir = staging / name
            model_dir.mkdir()
            (model_dir / "model.mcz").write_bytes(data)
            config = {
                "study": cfg.name,
                "trial": rec.number,
                "config": rec.config,
                "config_key": rec.config_key,
                "technique": result["technique"],
                "evaluation": meta["evaluation"],
                "reference": reference,
                "objectives": [
                    {"name": n, "direction": d}
                    for n, d in zip(meta["objectives"], meta["directions"], strict=True)
                ],
            }
            (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
            metrics = {
                "objectives": rec.attrs["objectives"],
                "details": result["details"],
                "eval_seconds": result["eval_seconds"],
            }
            (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
            row = {"model": name, "trial": rec.number}
            row.update(config_row(rec.config))
            row.update({o: rec.attrs["objectives"].get(o) for o in OBJECTIVE_INFO})
            row["artifact_bytes"] = len(data)
            row["artifact_deflate_bytes"] = result["details"]["cr"]["artifact_deflate_bytes"]
            row.update({f"sha256:{f}": _sha256(model_dir / f) for f in FILES})
            rows.append(row)
        with open(staging / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
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
    for f in FILES:
        p = model_dir / f
        if not p.is_file():
            raise ArtifactError(f"{p}: missing (listed in {manifest})")
        if _sha256(p) != row.get(f"sha256:{f}"):
            raise ArtifactError(
                f"{p}: changed since export (SHA-256 differs from {manifest}); refusing to load it"
            )


def evaluate_exported(
    model_dir: str | Path, *, cache_dir: str | Path | None = None, log=None
) -> dict[str, Any]:
    """Load an exported model and re-measure every objective.

    Returns:
        ``{"recorded": {...}, "measured": {...}, "accuracy_matches": bool}``.
    """
    from moo_compress.artifact import decode_model
    from moo_compress.evaluation import Evaluator

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: not an exported model directory")
    _verify_files(model_dir)
    try:
        config = json.loads((model_dir / "config.json").read_text())
        metrics = json.loads((model_dir / "metrics.json").read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{model_dir}: malformed JSON ({exc})") from None
    data = (model_dir / "model.mcz").read_bytes()
    model, _ = decode_model(data)
    cache = Path(
        cache_dir or os.environ.get("MOO_COMPRESS_CACHE", Path.home() / ".cache" / "moo-compress")
    )
    evaluator = Evaluator(config["evaluation"], cache, reference=config["reference"], log=log)
    measured = {k: float(r.value) for k, r in evaluator.measure(model, data).items()}
    recorded = metrics["objectives"]
    return {
        "model": str(model_dir),
        "recorded": recorded,
        "measured": measured,
        "accuracy_matches": measured["accuracy"] == recorded["accuracy"],
    }
