"""Cost of DeepLIFT scoring (Captum) vs HYDRA's scaled initialisation, as ratios measured in
the same run (seed 001 reports 49 s vs 18 s, a ratio of 2.7).

On the seed-001 reproduction model (small CNN, width 0.5, digits), median of 5 repeats of:

- ``scaled_init``: HYDRA's scaled initialisation of every layer's scores (a formula);
- ``hydra``: scaled initialisation plus one epoch of robust score optimisation (what
  DeepLIFT replaces in our pipeline, as in ``studies/seed001_pruning.yaml``);
- ``deeplift``: per-weight DeepLIFT importance from Captum over the 128-image calibration batch.

    python benchmarks/deeplift_cost.py      # writes benchmarks/results/deeplift_cost.json
"""

from __future__ import annotations

import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPEATS = 5


def main() -> int:
    import torch

    from moo_compress.compression.deeplift import deeplift_scores
    from moo_compress.compression.hydra import hydra_scores, scaled_init
    from moo_compress.compression.pruning import PruneContext
    from moo_compress.config import TrainConfig
    from moo_compress.data.digits import load_digits
    from moo_compress.models.small_cnn import SmallCNN
    from moo_compress.training import train
    from moo_compress.weights.constraints import prunable_layers

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    base = SmallCNN(10, width=0.5)
    train(base, ds.x_train, ds.y_train, TrainConfig(10, 64, 0.05, 0.9, 5e-4), epochs=10, seed=0)
    ratios = {name: 0.5 for name, _ in prunable_layers(base)}
    adversarial = {"eps": 0.05, "step": 0.02, "steps": 5, "random_start": False}

    def ctx(seed: int) -> PruneContext:
        return PruneContext(
            ratios,
            "unstructured",
            seed,
            ds.x_train,
            ds.y_train,
            train={"batch_size": 64, "adversarial": adversarial},
            options={"score_epochs": 1},
        )

    def scaled(model, c):
        return {n: scaled_init(m.weight.detach()) for n, m in prunable_layers(model)}

    timings: dict[str, list[float]] = {"scaled_init": [], "hydra": [], "deeplift": []}
    fns = {"scaled_init": scaled, "hydra": hydra_scores, "deeplift": deeplift_scores}
    for rep in range(REPEATS):
        for name, fn in fns.items():
            model = copy.deepcopy(base)
            t0 = time.perf_counter()
            fn(model, ctx(rep))
            timings[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in timings.items()}
    result = {
        "seconds_median": med,
        "seconds_all": timings,
        "deeplift_over_scaled_init": med["deeplift"] / med["scaled_init"],
        "deeplift_over_hydra_scoring": med["deeplift"] / med["hydra"],
        "paper_seed001": {"deeplift_s": 49, "scaled_init_s": 18, "ratio": 49 / 18},
        "setup": "small_cnn width 0.5, digits (1257 training images); calibration 128 images; "
        "HYDRA: 1 epoch of clean + PGD score optimisation",
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
    }
    out = HERE / "results" / "deeplift_cost.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    import _provenance

    _provenance.record(out)
    print(
        f"DeepLIFT scoring {med['deeplift']:.3f} s, scaled init {1000 * med['scaled_init']:.2f} ms "
        f"(ratio {result['deeplift_over_scaled_init']:.0f}x), HYDRA scaled init + score "
        f"optimisation {med['hydra']:.2f} s (DeepLIFT / HYDRA = "
        f"{result['deeplift_over_hydra_scoring']:.2f}x); paper: 49 s / 18 s = 2.7x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
