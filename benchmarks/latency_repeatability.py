"""How repeatable is ``latency_ms`` on a busy machine? The old measurement against the new one.

The same small CNN (the quick start's architecture) is measured ``--rounds`` times by each
method, alternately, while a competing process keeps every core busy in half of the rounds
(a NumPy matrix-multiply loop on all threads, started and stopped by this script):

- old: median of 30 timed passes after 5 warm-ups, with PyTorch's default thread count;
- new: the ``latency_ms`` objective (threads pinned to 1, smallest of 5 block medians).

Reports, for each method, min, max and max/min of the value over all rounds, quiet and
loaded. Writes ``benchmarks/results/latency_repeatability.json``.

    python benchmarks/latency_repeatability.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]


def _hog(stop) -> None:
    import numpy as np

    a = np.random.default_rng(0).random((512, 512))
    while not stop.is_set():
        a = (a @ a) / 512.0


def main() -> None:
    import numpy as np
    import torch

    from moo_compress.data.base import to_tensor
    from moo_compress.models import ARCHITECTURES
    from moo_compress.objectives.latency import latency, measure_latency

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "latency_repeatability.json")
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    model = ARCHITECTURES.get("small_cnn")(num_classes=10, width=1.0).eval()
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    default_threads = torch.get_num_threads()
    cfg = {"batch_size": 1, "warmup": 5, "repeats": 30}

    def old() -> float:
        x = to_tensor(images[:1])
        return 1000.0 * statistics.median(measure_latency(model, x, warmup=5, repeats=30))

    def new() -> float:
        return latency(SimpleNamespace(model=model, x_test=images, latency=cfg)).value

    values: dict[str, dict[str, list[float]]] = {
        m: {"quiet": [], "loaded": []} for m in ("old", "new")
    }
    ctx = mp.get_context("spawn")
    for i in range(args.rounds):
        loaded = i % 2 == 1
        stop, hogs = ctx.Event(), []
        if loaded:
            hogs = [ctx.Process(target=_hog, args=(stop,)) for _ in range(os.cpu_count() or 2)]
            for h in hogs:
                h.start()
            time.sleep(0.5)
        try:
            for name, fn in (("old", old), ("new", new)):
                values[name]["loaded" if loaded else "quiet"].append(fn())
        finally:
            stop.set()
            for h in hogs:
                h.join()
    summary = {}
    for name, by in values.items():
        every = by["quiet"] + by["loaded"]
        summary[name] = {
            "min_ms": min(every),
            "max_ms": max(every),
            "max_over_min": max(every) / min(every),
            "quiet_ms": by["quiet"],
            "loaded_ms": by["loaded"],
        }
    result = {
        "rounds": args.rounds,
        "competing_processes_when_loaded": os.cpu_count(),
        "torch_default_threads": default_threads,
        "old": "median of 30 after 5 warm-ups, default threads",
        "new": "latency_ms objective: 1 pinned thread, smallest of 5 block medians",
        "results": summary,
        "command": "python benchmarks/latency_repeatability.py",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(Path(args.out))
    for name, s in summary.items():
        print(
            f"{name}: {s['min_ms']:.3f} - {s['max_ms']:.3f} ms over {args.rounds} rounds "
            f"(max/min {s['max_over_min']:.2f})"
        )


if __name__ == "__main__":
    main()
