"""Peak memory of an mCE evaluation at 224x224 (issue 25: "memory stays bounded").

    python benchmarks/memory_mce.py                      # 1,000 images, 3 corruptions x 5
    python benchmarks/memory_mce.py --images 2000 --corruptions gaussian_noise,zoom_blur

A user's model at ImageNet's size: torchvision's ``mobilenet_v3_small(num_classes=10)``
(randomly initialised: memory, not accuracy, is measured), given to ``create_study`` as an
object with ``--images`` validation images of 224x224 (flat random-coloured images, made
here) through ``ImageClassificationData``. One process then does what a search's first
trial does: it writes the datasets to the study folder (a DataLoader, batch by batch),
generates every corrupted validation set (each corruption at severities 1-5, written
severity by severity to a memory-mapped file) and measures the baseline's accuracy and
errors on all of them (the robustness reference), then one compressed configuration's mCE.

Reports, after each step, the peak of the process's anonymous resident memory (``RssAnon``
of ``/proc/self/status``, sampled every 20 ms: what cannot be given back to a file) and the
peak resident set size (``ru_maxrss``, which also counts the pages of the memory-mapped
image files the process touched; the kernel reclaims those under pressure), against the
bytes of the images themselves (clean and corrupted) that a version holding them in memory
would need. Run it for two set sizes: bounded memory shows as the same anonymous peak.
Each run is kept in ``benchmarks/results/memory_mce.json`` under its number of images.
Memory is not a timing: the figures hold on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "memory_mce.json"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _AnonPeak:
    """The largest ``RssAnon`` seen, sampled by a thread every 20 ms."""

    def __init__(self) -> None:
        import threading

        self.peak = self.read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def read() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.read())

    def take(self) -> float:
        self.peak = max(self.peak, self.read())
        return self.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="validation images")
    parser.add_argument("--size", type=int, default=224, help="image side")
    parser.add_argument(
        "--corruptions", default="gaussian_noise,zoom_blur,frost", help="comma-separated"
    )
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torchvision

    import moo_compress as mc
    from moo_compress.evaluation import make_evaluator

    names = args.corruptions.split(",")
    n, s = args.images, args.size
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (n, 1, 1, 3), dtype=np.uint8)

    class Images:  # a torch-style dataset, read item by item (nothing is held but colours)
        def __init__(self, count: int) -> None:
            self.count = count

        def __len__(self) -> int:
            return self.count

        def __getitem__(self, i: int):
            img = np.broadcast_to(colours[i % n], (s, s, 3)).copy()
            img[i % s] = 255 - img[i % s]  # one line differs: not flat
            return img, i % 10

    anon = _AnonPeak()
    steps = {"start": _peak_mb()}
    anon_steps = {"start": anon.take()}
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(num_classes=10).eval()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        study = mc.create_study(
            name="memory",
            directory=Path(tmp) / "memory.moo",
            model=model,
            data=mc.ImageClassificationData(train=Images(n), val=Images(n), test=Images(64)),
            space={"variables": {"quant_bits": {"type": "categorical", "choices": [8]}}},
            objectives=["accuracy", "cr", "mce"],
            record=["accuracy", "cr", "mce"],
            corruptions={"names": names, "severities": [1, 2, 3, 4, 5]},
        )
        steps["datasets written"] = _peak_mb()
        anon_steps["datasets written"] = anon.take()
        cfg = study.cfg
        ev = make_evaluator(cfg.evaluation(), cfg.cache_dir, log=print)
        steps["corrupted sets generated"] = _peak_mb()
        anon_steps["corrupted sets generated"] = anon.take()
        ev.prepare([cfg.arch])
        ev.baseline_values(cfg.arch)
        steps["baseline and reference measured"] = _peak_mb()
        anon_steps["baseline and reference measured"] = anon.take()
        values = ev.evaluate({"quant_bits": 8}, "memory-trial").values
        steps["one configuration measured"] = _peak_mb()
        anon_steps["one configuration measured"] = anon.take()
        seconds = time.perf_counter() - t0
        held = {k: type(v).__name__ for k, v in ev.corrupted.items()}
    clean = 2 * n * s * s * 3  # train and validation images
    corrupted = len(names) * 5 * n * s * s * 3
    out = {
        "images": n,
        "size": s,
        "corruptions": names,
        "severities": 5,
        "model": "torchvision mobilenet_v3_small(num_classes=10), random weights",
        "peak_anonymous_mb_after": {k: round(v, 1) for k, v in anon_steps.items()},
        "peak_anonymous_mb": round(max(anon_steps.values()), 1),
        "peak_rss_mb_after": {k: round(v, 1) for k, v in steps.items()},
        "peak_rss_mb": round(max(steps.values()), 1),
        "image_bytes_mb": {
            "clean (train + validation)": round(clean / 2**20, 1),
            "corrupted validation sets": round(corrupted / 2**20, 1),
        },
        "corrupted_sets_held_as": held,
        "mce": values["mce"],
        "seconds": round(seconds, 1),
    }
    print(json.dumps(out, indent=1))
    runs = json.loads(OUT.read_text()) if OUT.exists() else {}
    runs = runs if "images" not in runs else {}  # a file of the single-run format is replaced
    runs[f"{n} images of {s}x{s}"] = out
    OUT.write_text(json.dumps(runs, indent=1) + "\n")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import _provenance

    _provenance.record(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
