"""Seed 002's comparison on the embedded digits: data-free simulated-annealing pruning vs
one-shot saliency pruning of an MLP's hidden units, without fine-tuning.

At 10 % to 80 % of hidden units pruned (every hidden layer), accuracy and robust instances
(test inputs with g(x_adv) = g(x) = y, FGSM at eps 0.01 and 0.05), mean over 5 annealing
seeds (one-shot saliency pruning is deterministic). Improvement = (ours - one-shot) /
one-shot, as in the paper's Fig. 4.

    python benchmarks/seed002_datafree.py

Writes ``benchmarks/results/seed002_datafree.csv``, ``seed002_datafree.md`` and ``.png``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
SEEDS = range(5)
EPS = (0.01, 0.05)


def main() -> int:
    import pandas as pd
    import torch

    from moo_compress.adversarial import attack_predictions, robust_instances
    from moo_compress.compression.pruning import PruneContext, prune
    from moo_compress.config import TrainConfig
    from moo_compress.data.digits import load_digits
    from moo_compress.models.mlp import MLP
    from moo_compress.training import accuracy, train
    from moo_compress.weights.constraints import prunable_layers

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    base = MLP(10)
    train(base, ds.x_train, ds.y_train, TrainConfig(30, 64, 0.05, 0.9, 5e-4), epochs=30, seed=0)
    base.cpu().eval()

    def measure(model) -> dict[str, float]:
        out = {"accuracy": 100 * accuracy(model, ds.x_test, ds.y_test)}
        for eps in EPS:
            clean, adv = attack_predictions(model, ds.x_test, ds.y_test, attack="fgsm", eps=eps)
            out[f"robust_{eps}"] = 100 * robust_instances(clean, adv, ds.y_test)
        return out

    rows = [{"method": "unpruned", "ratio": 0.0, "seed": 0, **measure(base)}]
    print(rows[0])
    for ratio in RATIOS:
        for method in ("saliency", "datafree"):
            for seed in SEEDS if method == "datafree" else [0]:
                model = copy.deepcopy(base)
                ratios = {name: ratio for name, _ in prunable_layers(model)}
                # no data: only the ratios, the seed and the input shape reach the criterion
                prune(model, method, PruneContext(ratios, "unstructured", seed))
                rows.append({"method": method, "ratio": ratio, "seed": seed, **measure(model)})
        print(rows[-1])
    frame = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    frame.to_csv(RESULTS / "seed002_datafree.csv", index=False)
    import _provenance

    _provenance.record(RESULTS / "seed002_datafree.csv")
    mean = frame.groupby(["method", "ratio"]).mean(numeric_only=True).drop(columns="seed")
    lines = [
        "# Seed 002 on digits (MLP 3072-256-128-64-10, no fine-tuning)",
        "",
        f"Unpruned: accuracy {rows[0]['accuracy']:.1f} %, robust instances "
        + ", ".join(f"{rows[0][f'robust_{e}']:.1f} % (eps {e})" for e in EPS),
        "",
        "| hidden units pruned | accuracy one-shot | accuracy SA | robust .01 one-shot | robust .01 SA"
        " | robust .05 one-shot | robust .05 SA | accuracy gain | robust .01 gain | robust .05 gain |",
        "|---" * 10 + "|",
    ]
    for ratio in RATIOS:
        a, b = mean.loc[("saliency", ratio)], mean.loc[("datafree", ratio)]

        def gain(k, a=a, b=b):
            return f"{100 * (b[k] - a[k]) / a[k]:+.0f} %" if a[k] > 0 else "n/a"

        lines.append(
            f"| {100 * ratio:.0f} % | {a['accuracy']:.1f} | {b['accuracy']:.1f} | "
            f"{a['robust_0.01']:.1f} | {b['robust_0.01']:.1f} | {a['robust_0.05']:.1f} | "
            f"{b['robust_0.05']:.1f} | {gain('accuracy')} | {gain('robust_0.01')} | {gain('robust_0.05')} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "seed002_datafree.md").write_text(text)
    import _provenance

    _provenance.record(RESULTS / "seed002_datafree.md")
    print(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, k in zip(axes, ["accuracy", "robust_0.01", "robust_0.05"], strict=True):
        for method, label in (("saliency", "one-shot saliency"), ("datafree", "data-free SA")):
            sub = frame[frame.method == method].groupby("ratio")[k]
            ax.errorbar(
                100 * np.array(RATIOS),
                sub.mean(),
                yerr=sub.std().fillna(0),
                marker="o",
                ms=3,
                capsize=2,
                label=label,
            )
        ax.axhline(rows[0][k], color="grey", ls=":", label="unpruned")
        ax.set(xlabel="hidden units pruned (%)", ylabel=k.replace("_", " eps ") + " (%)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "seed002_datafree.png", dpi=120)
    import _provenance

    _provenance.record(RESULTS / "seed002_datafree.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
