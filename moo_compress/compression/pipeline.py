"""The per-trial chain: prune -> fine-tune -> cluster -> fine-tune -> quantize -> QAT.

Depending on which stages are on, this realises seed-000 techniques 3 (pruning),
5 (clustering), 7 (sparsity-preserving clustering), 9 (QAT), 13 (PQAT) and 15 (PCQAT).
Each stage is followed by ``finetune_epochs`` of fine-tuning with every constraint so far
in force.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from moo_compress.compression.clustering import cluster_weights
from moo_compress.compression.pruning import magnitude_prune
from moo_compress.compression.quantization import quantize_weights
from moo_compress.config import TrainConfig
from moo_compress.training import train


def technique_name(config: dict[str, Any]) -> str:
    """Seed-000 name of the technique a configuration realises."""
    p = config["prune_ratio"] > 0
    c = config["cluster_count"] > 0
    q = config["quant_bits"] < 32
    return {
        (False, False, False): "original",
        (True, False, False): "pruning",
        (False, True, False): "clustering",
        (True, True, False): "pruning+clustering",
        (False, False, True): "QAT",
        (True, False, True): "PQAT",
        (False, True, True): "CQAT",
        (True, True, True): "PCQAT",
    }[(p, c, q)]


def compress(
    baseline: nn.Module,
    config: dict[str, Any],
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    finetune: TrainConfig,
    seed: int,
) -> nn.Module:
    """Return a compressed, fine-tuned copy of ``baseline`` (constraints still attached).

    Args:
        baseline: The trained uncompressed model (not modified).
        config: Full pipeline configuration (see ``compression.params``).
        x_train: uint8 training images for fine-tuning.
        y_train: Training labels.
        finetune: Fine-tuning optimizer settings.
        seed: Seed for clustering and data order.
    """
    model = copy.deepcopy(baseline)
    epochs = int(config["finetune_epochs"])

    def tune(stage: int) -> None:
        train(model, x_train, y_train, finetune, epochs=epochs, seed=seed + stage)

    if config["prune_ratio"] > 0:
        magnitude_prune(model, config["prune_ratio"], config["prune_granularity"])
        tune(1)
    if config["cluster_count"] > 0:
        cluster_weights(model, config["cluster_count"], seed=seed)
        tune(2)
    if config["quant_bits"] < 32:
        quantize_weights(model, config["quant_bits"])
        tune(3)
    return model.eval()
