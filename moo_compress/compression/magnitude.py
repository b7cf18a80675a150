"""The baseline pruning criteria: weight magnitude and uniform random scores.

Both score every weight and leave the granularity to
:func:`~moo_compress.weights.masks.masks_from_scores`; every other criterion must beat
``random``.
"""

from __future__ import annotations

import torch
from torch import nn

from moo_compress.weights.constraints import prunable_layers
from moo_compress.weights.masks import PruneContext, masks_from_scores

__all__ = ["magnitude_masks", "random_masks"]


def magnitude_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """|w| (mean |w| per kernel or filter: the L1-norm filter criterion of Li et al.).

    Args:
        model: The model to score.
        ctx: Ratios per layer and granularity.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    return masks_from_scores(
        model, {n: m.weight.detach().abs() for n, m in prunable_layers(model)}, ctx
    )


def random_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Uniform random scores drawn from ``ctx.seed`` (the baseline every criterion must beat).

    Args:
        model: The model to score.
        ctx: Ratios per layer, granularity and seed.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    gen = torch.Generator().manual_seed(ctx.seed)
    scores = {
        n: torch.rand(tuple(m.weight.shape), generator=gen).to(m.weight.device)
        for n, m in prunable_layers(model)
    }
    return masks_from_scores(model, scores, ctx)
