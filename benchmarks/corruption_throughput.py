"""Corruption generation throughput against the ``imagecorruptions`` package (per-image NumPy).

Same images (the digits test split, 32x32 RGB uint8), every severity 1-5, on the corruptions
both implement and that run under NumPy 2 (imagecorruptions 1.1.2's glass_blur, fog and
gaussian_blur fail there). Note the reference uses ImageNet-C strengths while we use the
CIFAR-10-C ones, so this compares the cost of the same operations, not identical outputs.
Target: at least 20x faster in total on CPU. Results: benchmarks/results/corruption_throughput.json.

imagecorruptions is installed only in its own environment (it needs setuptools<81):

    python3 -m venv benchmarks/.venv-imagecorruptions
    benchmarks/.venv-imagecorruptions/bin/pip install "setuptools<81" imagecorruptions==1.1.2
    python benchmarks/corruption_throughput.py [--reference-python PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCE_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from imagecorruptions import corrupt
images = np.load(sys.argv[1])
out = {}
for name in sys.argv[2].split(","):
    try:
        t0 = time.perf_counter()
        for s in range(1, 6):
            for img in images:
                corrupt(img, corruption_name=name, severity=s)
        out[name] = time.perf_counter() - t0
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"[:120]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-python",
        default=str(ROOT / "benchmarks" / ".venv-imagecorruptions" / "bin" / "python"),
        help="a Python with imagecorruptions installed",
    )
    args = parser.parse_args()
    if not Path(args.reference_python).exists():
        raise SystemExit(
            f"error: {args.reference_python} not found; create it as the module docstring says"
        )
    import torch

    from moo_compress.corruptions import CORRUPTIONS
    from moo_compress.corruptions.suite import corrupt_images
    from moo_compress.data.digits import load_digits

    images = load_digits(seed=0, test_fraction=0.3).x_test
    names = CORRUPTIONS.names()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.save(path, images)
        proc = subprocess.run(
            [args.reference_python, "-c", REFERENCE_SCRIPT, str(path), ",".join(names)],
            capture_output=True,
            text=True,
            check=True,
        )
    reference = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = {}
    for name in names:
        corrupt_images(images[:64], name, 1, seed=0)  # warm-up (imports, kernel caches)
        t0 = time.perf_counter()
        for s in range(1, 6):
            corrupt_images(images, name, s, seed=0)
        ours[name] = time.perf_counter() - t0
    common = [n for n in names if isinstance(reference.get(n), float)]
    rows = {
        n: {
            "imagecorruptions_s": reference[n] if n in common else None,
            "ours_s": ours[n],
            "speedup": reference[n] / ours[n] if n in common else None,
            "reference_error": None if n in common else reference.get(n),
        }
        for n in names
    }
    total_ref = sum(reference[n] for n in common)
    total_ours = sum(ours[n] for n in common)
    result = {
        "images": int(len(images)),
        "severities": 5,
        "torch_threads": torch.get_num_threads(),
        "corruptions_compared": common,
        "total_imagecorruptions_s": total_ref,
        "total_ours_s": total_ours,
        "total_speedup": total_ref / total_ours,
        "target": ">= 20x",
        "per_corruption": rows,
    }
    out = ROOT / "benchmarks" / "results" / "corruption_throughput.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(out)
    print(f"{'corruption':<18}{'imagecorr. s':>13}{'ours s':>9}{'speed-up':>10}")
    for n, r in rows.items():
        ref = f"{r['imagecorruptions_s']:.2f}" if r["speedup"] else "fails"
        sp = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        print(f"{n:<18}{ref:>13}{r['ours_s']:>9.2f}{sp:>10}")
    print(
        f"total over {len(common)} common corruptions, {len(images)} images x 5 severities: "
        f"{total_ref:.1f} s vs {total_ours:.1f} s = {result['total_speedup']:.1f}x (target >= 20x)"
    )


if __name__ == "__main__":
    main()
