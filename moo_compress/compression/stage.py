"""What every pipeline stage receives: the data and settings of one configuration's build.

A stage is one function ``(model, config, StageContext) -> model`` in its technique's module,
named in :data:`moo_compress.compression.params.STAGES`; the pipeline
(:func:`moo_compress.compression.pipeline.compress`) runs the stages a technique switches on,
in that table's order, and fine-tunes after each one that is not post-training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from moo_compress.settings import TrainConfig

__all__ = ["StageContext"]


@dataclass(frozen=True)
class StageContext:
    """The data and settings of one build, shared by every stage.

    Args:
        x_train: uint8 training images (NHWC) for fine-tuning, data-driven criteria and
            calibration.
        y_train: Training labels.
        finetune: Fine-tuning optimizer settings.
        seed: The build's seed; stage ``i`` (from 1, in table order) fine-tunes with
            ``seed + i``.
        adversarial: PGD settings of adversarial fine-tuning, or None (none).
        layers: Names of the model's conv/linear layers, before any stage ran.
        input_shape: ``(channels, height, width)`` of one image.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    finetune: TrainConfig
    seed: int
    adversarial: dict[str, Any] | None
    layers: tuple[str, ...]
    input_shape: tuple[int, int, int]

    def sample(self, n: int, seed: int) -> np.ndarray:
        """Up to ``n`` training images, drawn without replacement (in their order).

        Args:
            n: How many.
            seed: The draw's seed.
        """
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(self.x_train), size=min(n, len(self.x_train)), replace=False))
        return self.x_train[idx]
