"""What every pruning criterion shares: the context it receives and the granularity.

Criteria (``compression.pruning``'s registry: magnitude, random, HYDRA, DeepLIFT, data-free)
import this module, never the registry that names them, so the registry's lazy references
form no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from moo_compress.weights.constraints import prunable_layers

__all__ = ["PruneContext", "layer_ratios", "masks_from_scores", "topk_mask"]


@dataclass
class PruneContext:
    """What a pruning criterion may use.

    Args:
        ratios: Share to prune per layer name (weights, kernels, filters or hidden units).
        granularity: ``unstructured``, ``kernel`` or ``filter``.
        seed: Seed of every random choice.
        x_train: uint8 training images (criteria that use data).
        y_train: Training labels.
        train: Keyword arguments for :func:`moo_compress.training.train` (batch size,
            adversarial settings) when a criterion trains.
        options: Criterion settings (``score_epochs``, ``deeplift_baseline``).
        input_shape: (C, H, W) of the model's input.
    """

    ratios: dict[str, float]
    granularity: str
    seed: int
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    train: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = (3, 32, 32)


def _group_scores(scores: torch.Tensor, granularity: str) -> torch.Tensor:
    """Importance per prunable group: the weight itself, a kernel, or a filter."""
    if granularity == "kernel" and scores.dim() == 4:
        return scores.mean(dim=(2, 3))
    if granularity == "filter":
        return scores.reshape(scores.shape[0], -1).mean(dim=1)
    return scores


def _expand(group_mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return group_mask.reshape(*group_mask.shape, *([1] * (len(shape) - group_mask.dim()))).expand(
        shape
    )


def topk_mask(scores: torch.Tensor, ratio: float, granularity: str) -> torch.Tensor:
    """Keep-mask (float 0/1, shape of ``scores``) of the top ``1 - ratio`` groups by score.

    At least one group is always kept, so no layer is cut off entirely. Ties break by
    position (stable sort), so the mask is deterministic.

    Args:
        scores: Importance of each weight (higher is kept first), the weight's shape.
        ratio: Share of the groups to prune.
        granularity: ``unstructured`` (single weights), ``kernel`` (a conv kernel's mean
            score) or ``filter`` (an output unit's mean score).
    """
    groups = _group_scores(scores.detach(), granularity)
    n = groups.numel()
    n_prune = min(int(round(ratio * n)), n - 1)
    keep = torch.ones(n, device=scores.device)
    if n_prune > 0:
        keep[torch.argsort(groups.flatten(), stable=True)[:n_prune]] = 0.0
    return _expand(keep.reshape(groups.shape), scores.shape).contiguous()


def layer_ratios(model: nn.Module, ctx: PruneContext) -> dict[str, float]:
    """Per-layer ratio; under ``filter`` granularity the output layer is never pruned.

    Args:
        model: The model whose prunable layers are named.
        ctx: The context whose ``ratios`` are read (0 for a layer it does not name).
    """
    layers = prunable_layers(model)
    out = {name: float(ctx.ratios.get(name, 0.0)) for name, _ in layers}
    if ctx.granularity == "filter":
        out[layers[-1][0]] = 0.0
    return out


def masks_from_scores(
    model: nn.Module, scores: dict[str, torch.Tensor], ctx: PruneContext
) -> dict[str, torch.Tensor]:
    """Keep-masks from a criterion's scores, at the context's ratios and granularity.

    Args:
        model: The model the scores belong to.
        scores: Layer name -> importance of each weight (the weight's shape).
        ctx: The pruning context (ratios per layer, granularity).

    Returns:
        Layer name -> keep-mask (see :func:`topk_mask`) of the scored layers with a ratio
        above 0.
    """
    ratios = layer_ratios(model, ctx)
    return {
        name: topk_mask(s, ratios[name], ctx.granularity)
        for name, s in scores.items()
        if ratios[name] > 0
    }
