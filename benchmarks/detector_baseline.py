"""The detection quick start's baseline detector: mAP and AP50 on validation and test.

Trains (or loads from the study cache) the ``centernet_lite`` baseline of
``studies/detection_quickstart.yaml`` and scores it with pycocotools on the validation split
the search sees and on the test split. Writes ``benchmarks/results/detector_baseline.json``.

    python benchmarks/detector_baseline.py [--study studies/detection_quickstart.yaml]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(ROOT / "studies" / "detection_quickstart.yaml"))
    ap.add_argument("--cache", default=None, help="cache folder (default: a temp dir)")
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "detector_baseline.json")
    )
    args = ap.parse_args()
    cfg = load_study_config(args.study)
    cache = Path(args.cache or tempfile.mkdtemp(prefix="detector-"))
    spec = cfg.evaluation_spec()
    t0 = time.perf_counter()
    val = make_evaluator(spec, cache, log=print)
    train_s = time.perf_counter() - t0
    test = make_evaluator(spec, cache, split="test")
    scores = {}
    for name, ev in (("validation", val), ("test", test)):
        s = ev.score(ev.baseline, ev.dataset.x_test)
        scores[name] = {"images": len(ev.dataset.x_test), "map": s["map"], "ap50": s["ap50"]}
    result = {
        "study": str(Path(args.study).resolve().relative_to(ROOT)),
        "arch": cfg.arch,
        "width": cfg.width,
        "epochs": cfg.baseline.epochs,
        "train_images": len(val.dataset.x_train),
        "setup_seconds_incl_training": round(train_s, 1),
        **scores,
        "command": "python benchmarks/detector_baseline.py",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(Path(args.out))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
