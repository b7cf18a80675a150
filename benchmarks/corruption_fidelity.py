"""Fidelity of the corruption suite to the original CIFAR-10-C generation code.

Runs the original ``make_cifar_c.py`` (hendrycks/robustness, ``ImageNet-C/create_c/``) and our
suite on the same images (default: the first 300 of the digits test split,
``load_digits(seed=0, test_fraction=0.3)``), every corruption, every severity, and compares:

- ``mean_abs_change``: mean |corrupted - clean| in grey levels, ours and the original's, and
  their ratio (ours / original);
- ``mean_offset``: mean(ours) - mean(original), in grey levels (a rounding instead of a
  truncating uint8 conversion shows here as about +0.5);
- for the deterministic corruptions also pixel by pixel: the share of values equal and within
  one grey level, and the largest difference.

A corruption "matches within one grey level" when, at every severity, both its mean absolute
change and its mean brightness are within one grey level of the original's (and, when it is
deterministic, at least 99 % of its values are within one grey level). Random corruptions draw
from different generators (NumPy there, a seeded torch.Generator here), so for them only the
statistics can agree, up to sampling error: frost picks one of five photographs per image
(mean brightness 123-207), so its mean over 300 images has a standard error near one grey
level by itself. ``within_one_grey_level_or_2se`` also accepts a difference within two
standard errors (paired by image) of the two runs.

The original needs its own environment (OpenCV, scikit-image, SciPy, Wand with the
ImageMagick library for motion_blur and snow); the small shims below let it run on current
NumPy 2 / scikit-image / SciPy. It is never imported into this process: it runs in
``--reference-python`` and hands back ``.npy`` files. Example::

    git -C <robustness checkout> archive HEAD ImageNet-C/create_c | tar -x -C /tmp/ref
    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy scipy scikit-image \\
        opencv-python-headless Pillow wand      # + apt-get install libmagickwand-6.q16-6
    python benchmarks/corruption_fidelity.py /tmp/ref/ImageNet-C/create_c/make_cifar_c.py \\
        --reference-python /tmp/refenv/bin/python --label after \\
        --out benchmarks/results/corruption_fidelity.json

``--label`` names the run inside the output file, which keeps the runs stored under other
labels (e.g. ``before`` from the code before a change).
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

# Our registry name -> the original's function name (the same for all 19).
DETERMINISTIC = {
    "defocus_blur",
    "zoom_blur",
    "gaussian_blur",
    "brightness",
    "contrast",
    "saturate",
    "pixelate",
    "jpeg_compression",
}

REFERENCE_DRIVER = r"""
import os, sys, types, warnings, zlib
import numpy as np
warnings.simplefilter("ignore")
ref_path, images_path, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
# -- shims for current NumPy 2 / SciPy / scikit-image -------------------------------------
if not hasattr(np, "float_"):
    np.float_ = np.float64
np.fromstring = lambda s, dtype=float, **kw: np.frombuffer(s, dtype)
import scipy.ndimage
sys.modules.setdefault("scipy.ndimage.interpolation", scipy.ndimage)
src = open(ref_path).read()
src = src.split("# /////////////// End Distortions ///////////////")[0]
if "# /////////////// Data Loader ///////////////" in src:  # the ImageNet scripts: no loader
    head, _, rest = src.partition("# /////////////// Data Loader ///////////////")
    src = head + "# /////////////// Distortion Helpers ///////////////" + rest.partition(
        "# /////////////// Distortion Helpers ///////////////")[2]
# the dataset part needs torch/torchvision, the distortions do not
src = "\n".join(l for l in src.splitlines() if not l.startswith(("import torch", "import torchvision")))
wand_error = None
try:
    import wand.image, wand.api, wand.color  # noqa: F401
except ImportError as exc:  # no Wand/ImageMagick: stub it, motion_blur and snow then fail alone
    wand_error = f"{type(exc).__name__}: {exc}"[:200]
    for mod in ("wand", "wand.image", "wand.api", "wand.color"):
        sys.modules[mod] = types.ModuleType(mod)
    sys.modules["wand.image"].Image = object
    sys.modules["wand.api"].library = types.SimpleNamespace(
        MagickMotionBlurImage=types.SimpleNamespace()
    )
ns = {"__name__": "make_cifar_c"}
exec(compile(src, ref_path, "exec"), ns)
import skimage as sk
from skimage.filters import gaussian as _gaussian

def gaussian(image, sigma=1, multichannel=None, **kw):
    if multichannel:
        kw["channel_axis"] = -1
    return _gaussian(image, sigma=sigma, **kw)

ns["gaussian"] = gaussian
_random_noise = sk.util.random_noise
sk.util.random_noise = lambda img, **kw: _random_noise(img, rng=int(np.random.randint(2**31)), **kw)
from PIL import Image
os.chdir(os.path.dirname(os.path.abspath(ref_path)))  # frost reads ./frostN.png
images = np.load(images_path)
errors = {}
for name in names.split(","):
    fn = ns[name]
    try:
        out = np.empty((5,) + images.shape, np.uint8)
        for s in range(1, 6):
            np.random.seed(zlib.crc32(name.encode()) % 100000 * 10 + s)
            for i, img in enumerate(images):
                # make_cifar_c.py: np.uint8(corruption(convert_img(img))); ToTensor/ToPILImage
                # round-trips uint8 exactly, so Image.fromarray is the same PIL image.
                out[s - 1, i] = np.uint8(fn(Image.fromarray(img), s))
        np.save(os.path.join(out_dir, name + ".npy"), out)
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"[:200]
import json, scipy, PIL
import cv2
versions = {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-image": sk.__version__,
            "opencv": cv2.__version__, "Pillow": PIL.__version__}
if wand_error is None:
    import wand.version
    versions["ImageMagick"] = wand.version.MAGICK_VERSION
print(json.dumps({"errors": errors, "wand": wand_error, "versions": versions}))
"""


def run_reference(reference: Path, python: str, images: np.ndarray, names, tmp: Path) -> dict:
    np.save(tmp / "images.npy", images)
    proc = subprocess.run(
        [python, "-c", REFERENCE_DRIVER, str(reference), str(tmp / "images.npy"), str(tmp)]
        + [",".join(names)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the reference failed:\n{proc.stderr[-3000:]}")
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = {n: np.load(tmp / f"{n}.npy") for n in names if (tmp / f"{n}.npy").exists()}
    return {"outputs": outputs, **status}


def compare(name: str, clean: np.ndarray, ours: np.ndarray, ref: np.ndarray) -> dict:
    per = []
    c = clean.astype(np.float64)
    n = len(clean)
    for s in range(5):
        a, b = ours[s].astype(np.float64), ref[s].astype(np.float64)
        # per-image statistics, paired by image: their spread gives the standard error of the
        # differences (random corruptions differ by sampling alone)
        ca = np.abs(a - c).reshape(n, -1).mean(axis=1)
        cb = np.abs(b - c).reshape(n, -1).mean(axis=1)
        off = (a - b).reshape(n, -1).mean(axis=1)
        row = {
            "severity": s + 1,
            "mean_abs_change_ours": round(float(ca.mean()), 4),
            "mean_abs_change_original": round(float(cb.mean()), 4),
            "ratio": round(float(ca.mean() / cb.mean()), 4) if cb.mean() else None,
            "change_diff_se": round(float((ca - cb).std(ddof=1) / np.sqrt(n)), 4),
            "mean_offset": round(float(off.mean()), 4),
            "mean_offset_se": round(float(off.std(ddof=1) / np.sqrt(n)), 4),
        }
        if name in DETERMINISTIC:
            d = np.abs(a - b)
            row.update(
                equal=round(float((d == 0).mean()), 5),
                within_one=round(float((d <= 1).mean()), 5),
                max_diff=int(d.max()),
            )
        per.append(row)

    def close(r: dict, slack: float) -> bool:
        change = abs(r["mean_abs_change_ours"] - r["mean_abs_change_original"])
        return (
            change <= max(1.0, slack * r["change_diff_se"])
            and abs(r["mean_offset"]) <= max(1.0, slack * r["mean_offset_se"])
            and r.get("within_one", 1.0) >= 0.99
        )

    return {
        "deterministic": name in DETERMINISTIC,
        "within_one_grey_level": all(close(r, 0.0) for r in per),
        # random corruptions: a difference above one grey level that is within two standard
        # errors of sampling is not evidence of a different distribution
        "within_one_grey_level_or_2se": all(close(r, 2.0) for r in per),
        "severities": per,
    }


def colour_digits(n: int | None, size: int, split: str = "test") -> np.ndarray:
    """``n`` digits of a split (``load_digits(seed=0, test_fraction=0.3)``; None: all)
    resized bilinearly to ``size`` and tinted: each image's three channels scaled by a colour
    of its own (from a seeded generator), so colour and saturation vary as in photographs.
    uint8 (n, size, size, 3)."""
    import torch
    import torch.nn.functional as F

    from moo_compress.data.digits import load_digits

    x = getattr(load_digits(seed=0, test_fraction=0.3), f"x_{split}")[:n]
    t = torch.from_numpy(x).permute(0, 3, 1, 2).double()
    up = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    seeds = (0, 1) if split == "test" else (2, 3)
    tint = np.random.default_rng(seeds[0]).uniform(0.35, 1.0, size=(len(x), 3, 1, 1))
    base = np.random.default_rng(seeds[1]).uniform(0, 60, size=(len(x), 3, 1, 1))
    out = up.numpy() * tint + base * (1 - up.numpy() / 255.0)
    return np.ascontiguousarray(
        np.clip(np.round(out), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    )


#: Training epochs of the classifier of :func:`classifier_accuracies`.
EPOCHS = 15


def classifier_accuracies(
    train_x: np.ndarray, clean: np.ndarray, ours: dict, original: dict
) -> dict:
    """A small CNN (three strided convolutions, global pooling) trained here on clean
    training digits ``train_x`` (the images' kind: plain
    digits at 32, ``colour_digits`` of the train split otherwise; :data:`EPOCHS` epochs of AdamW), measured on the
    clean test images ``clean``, on our corrupted images and on the original's:
    per corruption the accuracy (mean over severities) on each and their difference, with a
    95 % interval of the difference paired by image and severity."""
    import torch

    from moo_compress.data.digits import load_digits
    from moo_compress.settings import TrainConfig
    from moo_compress.training import predict, train

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    nn = torch.nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    # any image size: strided convolutions, then global average pooling
    model = nn.Sequential(
        *block(3, 16),
        *block(16, 32),
        *block(32, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    cfg = TrainConfig(epochs=EPOCHS, batch_size=32, lr=0.003, optimizer="adamw", weight_decay=1e-4)
    train(model, train_x, ds.y_train, cfg, epochs=EPOCHS, seed=0)
    y = ds.y_test[: len(clean)]
    out = {"clean_accuracy": float((predict(model, clean).argmax(1).numpy() == y).mean())}
    rows = {}
    for name in ours:
        right = {}
        for who, sets in (("ours", ours), ("original", original)):
            flat = sets[name].reshape(-1, *sets[name].shape[2:])
            pred = predict(model, flat).argmax(1).numpy().reshape(5, -1)
            right[who] = (pred == y[None, :]).astype(float)
        d = (right["ours"] - right["original"]).ravel()
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if d.std() > 0 else 0.0
        rows[name] = {
            "accuracy_ours": round(float(right["ours"].mean()), 4),
            "accuracy_original": round(float(right["original"].mean()), 4),
            "difference": round(float(d.mean()), 4),
            "difference_95ci": [round(float(d.mean() - half), 4), round(float(d.mean() + half), 4)],
        }
    out["per_corruption"] = rows
    diffs = [abs(r["difference"]) for r in rows.values()]
    out["largest_abs_difference"] = round(max(diffs), 4)
    out["mean_accuracy_ours"] = round(
        float(np.mean([r["accuracy_ours"] for r in rows.values()])), 4
    )
    out["mean_accuracy_original"] = round(
        float(np.mean([r["accuracy_original"] for r in rows.values()])), 4
    )
    return out


def severity_ordering(clean: np.ndarray, out: np.ndarray) -> list[int]:
    """The severities ranked by mean absolute change (the least changed first)."""
    change = [float(np.abs(out[s].astype(np.float64) - clean).mean()) for s in range(5)]
    return [int(i) + 1 for i in np.argsort(change, kind="stable")]


#: The crop of each deterministic output pinned in the tests' fixtures (rows, columns).
FIXTURE_CROP = 24


def write_fixture(path: Path, images: np.ndarray, outputs: dict, args, size: int) -> None:
    """The tests' pinned values of the original script: its first images, for each
    deterministic corruption a central crop of its outputs, and for every corruption its mean
    absolute change per severity over all the run's images and its severity ordering."""
    k, c = args.fixture_images, FIXTURE_CROP
    top = (size - c) // 2
    arrays = {"clean": images[:k]}
    for name, out in outputs.items():
        if name in DETERMINISTIC:
            arrays[f"crop_{name}"] = out[:, :k, top : top + c, top : top + c]
        arrays[f"change_{name}"] = np.array(
            [np.abs(out[s].astype(np.float64) - images).mean() for s in range(5)]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="path to the original make_cifar_c.py")
    parser.add_argument(
        "--reference-python",
        default=sys.executable,
        help="a Python with the original's dependencies (numpy, scipy, scikit-image, cv2, wand)",
    )
    parser.add_argument(
        "--parameters",
        default="cifar",
        help="our parameter set compared with the script: cifar, tinyimagenet, imagenet64, imagenet",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="image side (default: the set's own, 32, 64 or 224); other sets than cifar use "
        "colour_digits(n, size)",
    )
    parser.add_argument(
        "--fixture",
        type=Path,
        default=None,
        help="write tests' pinned values (.npz): the first --fixture-images images, crops of "
        "the original's deterministic outputs and its mean changes",
    )
    parser.add_argument("--fixture-images", type=int, default=2)
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="also compare a small CNN's accuracies on our and the original's corrupted images",
    )
    parser.add_argument("--n-images", type=int, default=300)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="corrupt every image this many times (independent draws), to shrink sampling error",
    )
    parser.add_argument("--corruptions", default=None, help="comma-separated; default: all 19")
    parser.add_argument("--label", default="current", help="name of this run in the output")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to add this run to")
    parser.add_argument(
        "--save-reference",
        type=Path,
        default=None,
        help="folder to keep the original's outputs in (<name>.npy, (5, N, 32, 32, 3) uint8)",
    )
    args = parser.parse_args()

    from moo_compress.corruptions import CORRUPTIONS
    from moo_compress.corruptions.parameters import PARAMETER_SETS
    from moo_compress.corruptions.suite import IMPLEMENTATION_VERSION, corrupt_images
    from moo_compress.data.digits import load_digits

    names = args.corruptions.split(",") if args.corruptions else CORRUPTIONS.names()
    pset = PARAMETER_SETS[args.parameters]
    size = args.size or pset.image_size
    if args.reference.name != pset.script:
        print(f"note: {args.parameters} is taken from {pset.script}, not {args.reference.name}")
    if size == 32 and args.parameters == "cifar":
        clean = load_digits(seed=0, test_fraction=0.3).x_test[: args.n_images]
        described = f"load_digits(seed=0, test_fraction=0.3).x_test[:{len(clean)}]"
    else:
        clean = colour_digits(args.n_images, size)
        described = f"colour_digits({args.n_images}, {size})"
    images = np.ascontiguousarray(np.tile(clean, (args.repeats, 1, 1, 1)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ref = run_reference(
            args.reference.resolve(), args.reference_python, images, names, Path(tmp)
        )
        ref_seconds = time.perf_counter() - t0
    if args.save_reference:
        args.save_reference.mkdir(parents=True, exist_ok=True)
        for name, arr in ref["outputs"].items():
            np.save(args.save_reference / f"{name}.npy", arr)
    results = {}
    all_ours = {}
    for name in names:
        if name not in ref["outputs"]:
            results[name] = {"skipped": ref["errors"].get(name, "no output")}
            continue
        ours = np.stack(
            [
                corrupt_images(images, name, s, seed=0, parameters=args.parameters)
                for s in range(1, 6)
            ]
        )
        all_ours[name] = ours
        results[name] = compare(name, images, ours, ref["outputs"][name])
        results[name]["ordering"] = severity_ordering(images, ref["outputs"][name])
    if args.fixture:
        write_fixture(args.fixture, images, ref["outputs"], args, size)
    accuracies = None
    if args.accuracy and args.repeats == 1:
        plain = size == 32 and args.parameters == "cifar"
        train_x = (
            load_digits(seed=0, test_fraction=0.3).x_train
            if plain
            else colour_digits(None, size, "train")
        )
        accuracies = classifier_accuracies(
            train_x, images, all_ours, {n: ref["outputs"][n] for n in all_ours}
        )
    run = {
        "implementation_version": IMPLEMENTATION_VERSION,
        "parameters": args.parameters,
        "size": size,
        "n_images": len(clean),
        "repeats": args.repeats,
        "images": described,
        "reference": str(args.reference),
        "reference_environment": ref.get("versions"),
        "reference_seconds": round(ref_seconds, 1),
        "matching": sorted(n for n, r in results.items() if r.get("within_one_grey_level")),
        "not_matching": sorted(
            n for n, r in results.items() if "skipped" not in r and not r["within_one_grey_level"]
        ),
        "matching_or_within_2se": sorted(
            n for n, r in results.items() if r.get("within_one_grey_level_or_2se")
        ),
        "skipped": sorted(n for n, r in results.items() if "skipped" in r),
        "corruptions": results,
    }
    if accuracies is not None:
        run["classifier_accuracies"] = accuracies
    summary = {
        n: [r["ratio"] for r in results[n]["severities"]]
        for n in ("glass_blur", "frost")
        if n in results and "severities" in results[n]
    }
    print(json.dumps({"label": args.label, "ratios": summary, "matching": run["matching"]}))
    print("not matching:", run["not_matching"], "skipped:", run["skipped"])
    if args.out:
        doc = json.loads(args.out.read_text()) if args.out.exists() else {}
        doc.setdefault("description", __doc__.split("\n\n")[0])
        doc.setdefault("runs", {})[args.label] = run
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        import _provenance

        _provenance.record(args.out)


if __name__ == "__main__":
    main()
