"""HYDRA score-based pruning (Sehwag et al.; the method seed 001 builds on).

Every conv/linear weight gets a score of its shape. In the forward pass the weight is
``w * m`` where ``m`` keeps the top ``1 - ratio`` share of ``|score|`` in the layer (at the
study's granularity); the backward pass sends the gradient straight through ``m`` to the
scores. Phases:

1. scaled initialisation ``s = sqrt(6 / fan_in) * w / max|w|`` (per layer);
2. score optimisation with every weight and batch-norm parameter frozen
   (``score_epochs`` epochs, SGD lr 0.1, momentum 0.9, weight decay 1e-4, cosine), on the
   clean loss or, with ``robust_training``, on clean + PGD loss (seed 001);
3. the final top-k mask is fixed; fine-tuning of the weights follows in the pipeline.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from moo_compress.settings import TrainConfig
from moo_compress.training import train
from moo_compress.weights.constraints import prunable_layers
from moo_compress.weights.masks import (
    PruneContext,
    layer_ratios,
    masks_from_scores,
    topk_mask,
)

__all__ = ["ScoreMask", "hydra_masks", "hydra_scores", "scaled_init"]

SCORE_LR = 0.1
SCORE_MOMENTUM = 0.9
SCORE_WEIGHT_DECAY = 1e-4


class _TopKSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores: torch.Tensor, ratio: float, granularity: str) -> torch.Tensor:
        return topk_mask(scores.abs(), ratio, granularity)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


class ScoreMask(nn.Module):
    """Parametrization ``w -> w * topk(|scores|)`` with trainable scores.

    Args:
        scores: Initial scores, the weight's shape (copied into a parameter).
        ratio: Share of the layer's groups to mask.
        granularity: ``unstructured``, ``kernel`` or ``filter``.
    """

    def __init__(self, scores: torch.Tensor, ratio: float, granularity: str) -> None:
        super().__init__()
        self.scores = nn.Parameter(scores.clone())
        self.ratio = ratio
        self.granularity = granularity

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """The masked weight (the gradient reaches the scores straight through the mask).

        Args:
            w: The layer's weight.
        """
        return w * _TopKSTE.apply(self.scores, self.ratio, self.granularity)


def scaled_init(weight: torch.Tensor) -> torch.Tensor:
    """HYDRA's scaled initialisation: ``sqrt(6 / fan_in) * w / max|w|``.

    Args:
        weight: A layer's weight, output channels first.
    """
    fan_in = weight[0].numel()
    return math.sqrt(6.0 / fan_in) * weight / weight.abs().max().clamp_min(1e-12)


def hydra_scores(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Optimised scores (scaled initialisation, then ``score_epochs`` of score training).

    The model's parameters are frozen during score training and trainable again after it;
    the weights are unchanged.

    Args:
        model: The model to score.
        ctx: Ratios per layer, granularity, seed, training images and labels, ``train``
            (``batch_size``, default 64; ``adversarial``) and the ``score_epochs`` option
            (default 2).

    Returns:
        Layer name -> absolute optimised score of each weight, for layers with a ratio
        above 0.
    """

    ratios = layer_ratios(model, ctx)
    layers = [(n, m) for n, m in prunable_layers(model) if ratios[n] > 0]
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    scores = {}
    try:
        for name, module in layers:
            w = module.weight.detach()
            parametrize.register_parametrization(
                module, "weight", ScoreMask(scaled_init(w), ratios[name], ctx.granularity)
            )
        epochs = int(ctx.options.get("score_epochs", 2))
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=int(ctx.train.get("batch_size", 64)),
            lr=SCORE_LR,
            momentum=SCORE_MOMENTUM,
            weight_decay=SCORE_WEIGHT_DECAY,
        )
        train(
            model,
            ctx.x_train,
            ctx.y_train,
            cfg,
            epochs=epochs,
            seed=ctx.seed,
            adversarial=ctx.train.get("adversarial"),
        )
        for name, module in layers:
            scores[name] = module.parametrizations.weight[0].scores.detach().abs()
    finally:
        for _, module in layers:
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        for p in frozen:
            p.requires_grad_(True)
    return scores


def hydra_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Keep-masks from :func:`hydra_scores` at the context's ratios and granularity.

    Args:
        model: The model to score.
        ctx: What :func:`hydra_scores` uses.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    return masks_from_scores(model, hydra_scores(model, ctx), ctx)
