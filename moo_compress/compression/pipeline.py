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
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from moo_compress._utils.registry import Registry
from moo_compress.compression.checkpoint import Paused, load_paused, save_paused
from moo_compress.compression.params import TECHNIQUES, resolve
from moo_compress.compression.stage import StageContext
from moo_compress.errors import ArtifactError
from moo_compress.settings import TrainConfig
from moo_compress.training import TrainingRun
from moo_compress.weights.constraints import prunable_layers

__all__ = [
    "POST_TRAINING",
    "STAGES",
    "Build",
    "build",
    "compress",
    "technique_name",
    "technique_stages",
]

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
    return build(
        baseline,
        config,
        x_train=x_train,
        y_train=y_train,
        finetune=finetune,
        seed=seed,
        adversarial=adversarial,
    ).model


@dataclass
class Build:
    """A configuration's model, fine-tuned in full or paused in its last fine-tuning run.

    Args:
        model: The model to measure (post-training stages applied, as in a full build).
        epochs: Epochs its last fine-tuning run has done.
        checkpoint: :func:`~moo_compress.compression.checkpoint.save_paused`'s bytes, to
            continue the paused run; None when fine-tuning is finished (the model is the
            full build's).
    """

    model: nn.Module
    epochs: int
    checkpoint: bytes | None = None


def build(
    baseline: nn.Module,
    config: dict[str, Any],
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    finetune: TrainConfig,
    seed: int,
    adversarial: dict[str, Any] | None = None,
    last_epochs: int | None = None,
    checkpoint: bytes | None = None,
) -> Build:
    """Build a configuration's model, pausing its last fine-tuning run after
    ``last_epochs`` epochs or continuing a paused one.

    *What a pause pauses.* Every stage but the post-training ones is followed by a
    fine-tuning run of ``finetune_epochs`` epochs (its own cosine schedule). A pause stops
    the last of these runs (the last stage's) after ``last_epochs`` of its epochs: every
    stage has then been applied and every earlier run is complete, so the model holds every
    constraint of the configuration; the post-training stages (int8) are applied to it as
    to the full build. Continued to the run's end, from :attr:`Build.checkpoint`, it is
    the full build's model bit for bit on a deterministic device (the schedule spans the
    whole run; optimizer, shuffling and random states continue).

    Args:
        baseline: The trained uncompressed model (not modified).
        config: Pipeline configuration (missing keys take their defaults).
        x_train: uint8 training images (see :func:`compress`).
        y_train: Training labels.
        finetune: Fine-tuning optimizer settings.
        seed: Seed for every random choice of the chain.
        adversarial: PGD settings used when ``robust_training`` is on (default None).
        last_epochs: Pause the last fine-tuning run after this many of its epochs
            (default None, or at least ``finetune_epochs``: run it to its end).
        checkpoint: A paused build of the same configuration, baseline and seed to
            continue (default None: build from the baseline).

    Raises:
        ArtifactError: ``checkpoint`` is unreadable or of another build.
    """
    config = resolve(config)
    stages = technique_stages(config["technique"])
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
        layers=tuple(name for name, _ in prunable_layers(baseline)),
        input_shape=(x_train.shape[3], x_train.shape[1], x_train.shape[2]),
    )
    numbered = [(n, s) for n, s in enumerate(STAGES, start=1) if s in stages]
    trained = [n for n, s in numbered if s not in POST_TRAINING]
    last = trained[-1] if trained else None

    def make_run(model: nn.Module, number: int) -> TrainingRun:
        return TrainingRun(
            model,
            x_train,
            y_train,
            finetune,
            epochs=epochs,
            seed=seed + number,
            adversarial=ctx.adversarial,
        )

    run: TrainingRun | None = None
    first = 1
    if checkpoint is not None and last is not None:
        paused = load_paused(checkpoint, baseline, make_run)
        if paused.stage != last:
            raise ArtifactError(
                f"training checkpoint pauses stage {paused.stage}, not this build's last "
                f"fine-tuned stage {last}"
            )
        model, run, first = paused.model, paused.run, last + 1
        if paused.notes:
            model.compression_skipped = list(paused.notes)
        run.run(until=last_epochs)
    else:
        model = copy.deepcopy(baseline)
    saved = None

    def pause_file() -> bytes | None:
        if run is None or run.finished:
            return None
        return save_paused(
            Paused(model, run, last, getattr(model, "compression_skipped", [])), baseline
        )

    for number, name in numbered:
        if number < first:
            continue
        if name in POST_TRAINING:
            if saved is None:  # before int8 sets the float layers' storage bits
                saved = pause_file()
            model.eval()
        model = STAGES.get(name)(model, config, ctx)
        if name not in POST_TRAINING:
            run = make_run(model, number)
            run.run(until=last_epochs if number == last else None)
    if saved is None:
        saved = pause_file()
    done = run.done if run is not None else 0
    return Build(model.eval(), done, saved)
