"""The per-trial chain: prune -> fine-tune -> cluster -> fine-tune -> QAT -> fine-tune -> int8.

Which stages run is the configuration's technique (seed 000's catalog, see
``compression.params.TECHNIQUES``); each stage is followed by ``finetune_epochs`` of
fine-tuning with every constraint so far in force (masks, centroid ties, fake quantization),
so no stage undoes an earlier one: PQAT keeps the masks, CQAT the ties, PCQAT both. The
int8 stage is post-training (no fine-tuning after it).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from moo_compress.compression.clustering import cluster_weights
from moo_compress.compression.constraints import constraint, prunable_layers
from moo_compress.compression.params import TECHNIQUES, resolve, stage_value
from moo_compress.compression.pruning import PruneContext, prune
from moo_compress.compression.quantization import (
    calibrate_activations,
    quantize_activations,
    quantize_weights,
)
from moo_compress.settings import TrainConfig
from moo_compress.training import train

__all__ = ["compress", "technique_name"]


def technique_name(config: dict[str, Any]) -> str:
    """Seed-000 name of the technique a configuration realises.

    Args:
        config: Pipeline configuration (missing keys take their defaults).
    """
    return resolve(config)["technique"]


def _sample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(n, len(x)), replace=False))
    return x[idx]


def compress(
    baseline: nn.Module,
    config: dict[str, Any],
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    finetune: TrainConfig,
    seed: int,
    adversarial: dict[str, Any] | None = None,
) -> nn.Module:
    """Return a compressed, fine-tuned copy of ``baseline``.

    The result keeps its constraints attached; with int8 it is an
    ``compression.int8.Int8Model`` (ONNX Runtime) wrapping the float model.

    Args:
        baseline: The trained uncompressed model (not modified).
        config: Pipeline configuration (see ``compression.params``; missing keys take
            their defaults).
        x_train: uint8 training images for fine-tuning, data-driven criteria and
            calibration (never used by ``datafree`` / ``saliency`` pruning itself).
        y_train: Training labels.
        finetune: Fine-tuning optimizer settings.
        seed: Seed for every random choice of the chain.
        adversarial: PGD settings used when ``robust_training`` is on (default None: no
            adversarial fine-tuning).
    """
    from moo_compress.data.base import to_tensor

    config = resolve(config)
    prune_on, cluster_on, qat_on, int8_on = TECHNIQUES[config["technique"]][1]
    model = copy.deepcopy(baseline)
    epochs = int(config["finetune_epochs"])
    adv = (
        {k: adversarial[k] for k in ("eps", "step", "steps", "random_start")}
        if (config["robust_training"] and adversarial)
        else None
    )
    input_shape = (x_train.shape[3], x_train.shape[1], x_train.shape[2])

    def tune(stage: int) -> None:
        train(model, x_train, y_train, finetune, epochs=epochs, seed=seed + stage, adversarial=adv)

    layers = [name for name, _ in prunable_layers(model)]
    if prune_on:
        ctx = PruneContext(
            ratios={n: float(stage_value(config, "prune_ratio", n)) for n in layers},
            granularity=config["prune_granularity"],
            seed=seed,
            x_train=x_train,
            y_train=y_train,
            train={"batch_size": finetune.batch_size, "adversarial": adv},
            options={
                "score_epochs": config["score_epochs"],
                "deeplift_baseline": config["deeplift_baseline"],
            },
            input_shape=input_shape,
        )
        model = prune(model, config["prune_method"], ctx)
        tune(1)
    if cluster_on:
        cluster_weights(model, config["cluster_count"], seed=seed, init=config["cluster_init"])
        tune(2)
    if qat_on:
        quantize_weights(model, {n: int(stage_value(config, "quant_bits", n)) for n in layers})
        if config["act_bits"] == 8:
            quantize_activations(model, 8)
            calibrate_activations(model, to_tensor(_sample(x_train, 256, seed)))
        tune(3)
    model.eval()
    if int8_on:
        from moo_compress.compression.int8 import CALIBRATION_IMAGES, calibrate

        for _, module in prunable_layers(model):  # int8 storage of still-float weights
            cw = constraint(module)
            if cw.bits is None:
                cw.bits = 8
        images = to_tensor(_sample(x_train, CALIBRATION_IMAGES, seed + 4)).numpy()
        notes = getattr(model, "compression_skipped", None)
        model = calibrate(model, images)
        if notes:  # what a stage skipped stays known on the int8 model
            model.compression_skipped = notes
    return model
