"""Compress your own model with moo-compress, from Python.

A complete user script: it stands in for "your" trained model and data by training a
torchvision ResNet-18 for a moment on scikit-learn's digits at 64x64 (nothing is
downloaded), then searches compressed versions of it (pruning x quantization x clustering)
on accuracy, compression ratio and corruption robustness (mCE) under "at most 2 points of
accuracy lost", prints the Pareto front and exports the chosen models (ONNX, int8, model
cards).

    python examples/compress_your_model.py                 # 24 trials, in ./resnet18-digits.moo
    python examples/compress_your_model.py --trials 4 --quick

Run it again to resume the search (the same model and settings); ``moo-compress status
resnet18-digits.moo/study.yaml`` and ``moo-compress report ...`` read the same study.
With your own model, replace ``train_stand_in_model`` and ``datasets`` by yours.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import moo_compress as mc


def datasets(size: int, per_class: int | None):
    """Digits as torch datasets of (float CHW tensor in [0, 1], label), at ``size`` pixels:
    what ``torchvision.transforms.ToTensor()`` gives for your own images."""
    import torch
    import torch.nn.functional as F

    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)

    def split(x, y):
        keep = slice(None)
        if per_class is not None:
            import numpy as np

            keep = np.concatenate([np.flatnonzero(y == k)[:per_class] for k in range(10)])
        t = torch.from_numpy(x[keep]).permute(0, 3, 1, 2).float() / 255.0
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
        return list(zip(t, (int(v) for v in y[keep]), strict=True))

    return split(ds.x_train, ds.y_train), split(ds.x_test, ds.y_test)


def train_stand_in_model(train, epochs: int):
    """A torchvision ResNet-18 trained on ``train`` (your model would be loaded instead)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.stack([img for img, _ in train])
    y = torch.tensor([label for _, label in train])
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    model.train()
    for _ in range(epochs):
        for i in torch.randperm(len(y)).split(32):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model((x[i] - 0.5) / 0.25), y[i])
            loss.backward()
            opt.step()
    # After so few steps the batch-norm running statistics still lag the weights: measure
    # them once on the training images (a cumulative average), as a finished model has them,
    # then give the layers back their momentum (fine-tuning a compressed model needs it).
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        for i in torch.arange(len(y)).split(128):
            model((x[i] - 0.5) / 0.25)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24, help="completed trials to reach")
    parser.add_argument("--directory", type=Path, default=Path("resnet18-digits.moo"))
    parser.add_argument("--export", type=Path, default=None, help="export the front here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200 training images, 2 corruptions at one severity (a smoke run)",
    )
    args = parser.parse_args(argv)

    train, test = datasets(64, per_class=20 if args.quick else None)
    t0 = time.perf_counter()
    model = train_stand_in_model(train, epochs=8 if args.quick else 3)
    print(f"stand-in model trained in {time.perf_counter() - t0:.0f} s")

    study = mc.create_study(
        name="resnet18-digits",
        directory=args.directory,
        model=model,
        mean=[0.5, 0.5, 0.5],  # the normalisation the model was trained with
        std=[0.25, 0.25, 0.25],
        data=mc.ImageClassificationData(train=train, test=test),
        space={
            "variables": {
                "prune_ratio": {"type": "float", "low": 0.0, "high": 0.8, "step": 0.1},
                "prune_granularity": {
                    "type": "categorical",
                    "choices": ["unstructured", "filter"],
                },
                "cluster_count": {"type": "categorical", "choices": [0, 16, 32]},
                "quant_bits": {"type": "categorical", "choices": [4, 8, 32]},
                "finetune_epochs": {"type": "int", "low": 0, "high": 1},
            }
        },
        objectives=["accuracy", "cr", "mce"],
        # at most 2 points of accuracy lost (10 in a smoke run, which barely fine-tunes)
        constraints={"accuracy": {"max_drop": 10.0 if args.quick else 2.0}},
        corruptions=(
            {"names": ["gaussian_noise", "contrast"], "severities": [3]} if args.quick else None
        ),
        record=["accuracy", "cr", "mce", "proxy_purity"],
        seed=0,
        load_if_exists=True,
    )
    summary = study.optimize(n_trials=args.trials)
    print(f"{summary['complete']} trials complete; archive of {summary['archive_size']} models")
    front = study.pareto()
    if front.empty:
        print("no model meets the accuracy constraint yet: run more trials")
        return 0
    print(front[["trial", "technique", "accuracy", "cr", "mce"]].to_string(index=False))
    if args.export is not None:
        rows = study.export(args.export, force=True)
        print(f"exported {len(rows)} models to {args.export}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
