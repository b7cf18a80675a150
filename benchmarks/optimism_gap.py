"""Optimism of selecting on the figures the search saw: validation vs test on the quick start.

Runs the quick-start study (or resumes it) in a fresh folder, exports every Pareto-optimal
model (export measures each one on the untouched test split as well), and compares, per
exported model and on average, the validation figures the search selected on with the test
figures. Also reports the gap of the model a user would pick by each objective's best
validation value.

    python benchmarks/optimism_gap.py [--study studies/quickstart.yaml] [--work DIR]

Writes ``benchmarks/results/quickstart_optimism_gap.json`` (and prints a table).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ("accuracy", "mce", "relative_mce", "corruption_accuracy", "proxy_purity")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(ROOT / "studies" / "quickstart.yaml"))
    ap.add_argument("--work", default=None, help="folder for the study copy (default: a temp dir)")
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "quickstart_optimism_gap.json")
    )
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="optimism-"))
    work.mkdir(parents=True, exist_ok=True)
    study_src = Path(args.study).resolve()
    study = work / study_src.name
    text = study_src.read_text().replace(
        "search_space: ../search_spaces/", f"search_space: {ROOT / 'search_spaces'}/"
    )
    study.write_text(text)

    def run(*cmd: str) -> None:
        res = subprocess.run([sys.executable, "-m", "moo_compress", *cmd], text=True)
        if res.returncode:
            sys.exit(f"moo-compress {' '.join(cmd)} failed with exit {res.returncode}")

    run("search", str(study), "--no-progress")
    out = work / "export"
    if out.exists():
        shutil.rmtree(out)
    run("export", str(study), "--out", str(out))
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    models = []
    for row in rows:
        m = {"model": row["model"], "technique": row["technique"]}
        for o in OBJECTIVES:
            if row.get(o) not in (None, "") and row.get(f"test_{o}") not in (None, ""):
                m[o] = {"validation": float(row[o]), "test": float(row[f"test_{o}"])}
        models.append(m)
    summary = {}
    for o in OBJECTIVES:
        pairs = [m[o] for m in models if o in m]
        if not pairs:
            continue
        gaps = [p["validation"] - p["test"] for p in pairs]
        summary[o] = {
            "mean_validation": statistics.mean(p["validation"] for p in pairs),
            "mean_test": statistics.mean(p["test"] for p in pairs),
            "mean_gap_validation_minus_test": statistics.mean(gaps),
            "min_gap": min(gaps),
            "max_gap": max(gaps),
        }
    picks = {}
    for o, better in (("accuracy", max), ("mce", min)):
        chosen = better((m for m in models if o in m), key=lambda m: m[o]["validation"])
        picks[o] = {"model": chosen["model"], **chosen[o]}
    # near-identities the README explains, over every completed trial of the study
    res = subprocess.run(
        [sys.executable, "-m", "moo_compress", "pareto", str(study), "--all", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    trials = [r for r in json.loads(res.stdout) if r.get("accuracy") is not None]
    identities = {
        "trials": len(trials),
        "proxy_acc_equals_proxy_purity": sum(r["proxy_acc"] == r["proxy_purity"] for r in trials),
        "fgsm_accuracy_equals_robust_instances": sum(
            r["fgsm_accuracy"] == r["robust_instances"] for r in trials
        ),
    }
    result = {
        "study": str(study_src.relative_to(ROOT)),
        "near_identities": identities,
        "n_exported": len(models),
        "per_objective": summary,
        "best_by_validation": picks,
        "models": models,
        "command": "python benchmarks/optimism_gap.py",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(Path(args.out))
    print(f"{len(models)} exported models; validation (what the search saw) vs test")
    print(f"{'objective':<22}{'validation':>12}{'test':>10}{'gap':>9}{'min':>9}{'max':>9}")
    for o, s in summary.items():
        print(
            f"{o:<22}{s['mean_validation']:>12.2f}{s['mean_test']:>10.2f}"
            f"{s['mean_gap_validation_minus_test']:>9.2f}{s['min_gap']:>9.2f}{s['max_gap']:>9.2f}"
        )
    for o, p in picks.items():
        print(f"best {o} by validation: {p['model']} {p['validation']:.2f} -> test {p['test']:.2f}")
    print(f"near-identities over {identities['trials']} trials: {identities}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
