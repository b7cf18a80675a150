"""The per-trial chain: prune -> fine-tune -> cluster -> fine-tune -> QAT -> fine-tune -> int8.

Which stages run is the configuration's technique (seed 000's catalog, see
``compression.params.TECHNIQUES``); the stages are :data:`STAGES`, each one
function in its technique's module, run in that table's order. Each stage is followed by
``finetune_epochs`` of fine-tuning with every constraint so far in force (masks, centroid
ties, fake quantization), so no stage undoes an earlier one: PQAT keeps the masks, CQAT the
ties, PCQAT both. The int8 stage is post-training (no fine-tuning after it).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from moo_compress._utils.registry import Registry
from moo_compress.compression.params import TECHNIQUES, resolve
from moo_compress.compression.stage import StageContext
from moo_compress.settings import TrainConfig
from moo_compress.training import train
from moo_compress.weights.constraints import prunable_layers

__all__ = ["POST_TRAINING", "STAGES", "compress", "technique_name", "technique_stages"]

#: The pipeline's stages, in the order they run: name -> the function applying it to a model
#: (``(model, resolved config, StageContext) -> model``, in the technique's own module; see
#: :mod:`moo_compress.compression.stage`). Each stage but the post-training ones
#: (:data:`POST_TRAINING`) is followed by fine-tuning with every constraint so far in force.
#: A technique is its module, one entry here and its column in ``compression.params.TECHNIQUES``.
STAGES = Registry(
    "stage",
    {
        "prune": "moo_compress.compression.pruning:prune_stage",
        "cluster": "moo_compress.compression.clustering:cluster_stage",
        "qat": "moo_compress.compression.quantization:qat_stage",
        "int8": "moo_compress.compression.int8:int8_stage",
    },
)
#: Stages run on the trained model, without fine-tuning after them.
POST_TRAINING = ("int8",)


def technique_stages(technique: str) -> tuple[str, ...]:
    """The stages ``technique`` runs, in order (names of :data:`STAGES`).

    Args:
        technique: A name in ``compression.params.TECHNIQUES``.
    """
    return tuple(s for s, on in zip(STAGES, TECHNIQUES[technique][1], strict=True) if on)


def technique_name(config: dict[str, Any]) -> str:
    """Seed-000 name of the technique a configuration realises.

    Args:
        config: Pipeline configuration (missing keys take their defaults).
    """
    return resolve(config)["technique"]


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
    config = resolve(config)
    stages = technique_stages(config["technique"])
    model = copy.deepcopy(baseline)
    epochs = int(config["finetune_epochs"])
    ctx = StageContext(
        x_train=x_train,
        y_train=y_train,
        finetune=finetune,
        seed=seed,
        adversarial=(
            {k: adversarial[k] for k in ("eps", "step", "steps", "random_start")}
            if (config["robust_training"] and adversarial)
            else None
        ),
        layers=tuple(name for name, _ in prunable_layers(model)),
        input_shape=(x_train.shape[3], x_train.shape[1], x_train.shape[2]),
    )
    for number, name in enumerate(STAGES, start=1):
        if name not in stages:
            continue
        if name in POST_TRAINING:
            model.eval()
        model = STAGES.get(name)(model, config, ctx)
        if name not in POST_TRAINING:
            train(
                model,
                x_train,
                y_train,
                finetune,
                epochs=epochs,
                seed=seed + number,
                adversarial=ctx.adversarial,
            )
    return model.eval()
