"""Corruption generation throughput against the ``imagecorruptions`` package (per-image NumPy).

Same images, every severity 1-5, on the corruptions both implement and that run under NumPy 2
(imagecorruptions 1.1.2's glass_blur, fog and gaussian_blur fail there). imagecorruptions
uses ImageNet-C's parameters.

- Default: the digits test split at 32x32, our CIFAR-10-C parameters (so this compares the
  cost of the same operations, not identical outputs). Target: at least 20x in total.
  Results: ``benchmarks/results/corruption_throughput.json``.
- ``--size 224 --parameters imagenet``: ``colour_digits(n, 224)`` (see
  ``corruption_fidelity.py``) with ImageNet-C's parameters on both sides: the same
  corruptions. Target: at least 10x in total. Results:
  ``benchmarks/results/corruption_throughput_224.json``.

Our figure is measured on the engine's device (a GPU when present, recorded in the result).

imagecorruptions is installed only in its own environment (it needs setuptools<81):

    python3 -m venv benchmarks/.venv-imagecorruptions
    benchmarks/.venv-imagecorruptions/bin/pip install "setuptools<81" imagecorruptions==1.1.2
    python benchmarks/corruption_throughput.py [--reference-python PATH]
    python benchmarks/corruption_throughput.py --size 224 --parameters imagenet --n-images 100
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
    parser.add_argument("--size", type=int, default=32, help="image side (default 32)")
    parser.add_argument(
        "--parameters", default="cifar", help="our parameter set (default cifar; imagenet at 224)"
    )
    parser.add_argument(
        "--n-images", type=int, default=None, help="images (default: all 540 at 32, 100 else)"
    )
    args = parser.parse_args()
    if not Path(args.reference_python).exists():
        raise SystemExit(
            f"error: {args.reference_python} not found; create it as the module docstring says"
        )
    import torch

    from moo_compress._utils.device import get_device
    from moo_compress.corruptions import CORRUPTIONS
    from moo_compress.corruptions.suite import corrupt_images
    from moo_compress.data.digits import load_digits

    if args.size == 32:
        images = load_digits(seed=0, test_fraction=0.3).x_test[: args.n_images]
        described = f"load_digits(seed=0, test_fraction=0.3).x_test[:{len(images)}]"
    else:
        from corruption_fidelity import colour_digits

        n = args.n_images or 100
        images = colour_digits(n, args.size)
        described = f"colour_digits({n}, {args.size})"
    target = 20.0 if args.size == 32 else 10.0
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
        # warm-up (imports, kernel caches)
        corrupt_images(images[:8], name, 1, seed=0, parameters=args.parameters)
        t0 = time.perf_counter()
        for s in range(1, 6):
            corrupt_images(images, name, s, seed=0, parameters=args.parameters)
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
    speedup = total_ref / total_ours
    result = {
        "images": int(len(images)),
        "image_source": described,
        "size": args.size,
        "parameters": args.parameters,
        "device": str(get_device()),
        "severities": 5,
        "torch_threads": torch.get_num_threads(),
        "corruptions_compared": common,
        "total_imagecorruptions_s": total_ref,
        "total_ours_s": total_ours,
        "total_speedup": speedup,
        "target": f">= {target:g}x",
        "target_met": speedup >= target,
        "per_corruption": rows,
    }
    suffix = "" if args.size == 32 else f"_{args.size}"
    out = ROOT / "benchmarks" / "results" / f"corruption_throughput{suffix}.json"
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
        f"{total_ref:.1f} s vs {total_ours:.1f} s = {speedup:.1f}x (target >= {target:g}x: "
        f"{'met' if speedup >= target else 'missed'})"
    )


if __name__ == "__main__":
    main()
