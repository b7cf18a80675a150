"""Magnitude pruning, unstructured or of whole filters (seed-000 technique 3)."""

from __future__ import annotations

import torch
from torch import nn

from moo_compress.compression.constraints import constraint, prunable_layers


@torch.no_grad()
def magnitude_prune(model: nn.Module, ratio: float, granularity: str) -> None:
    """Zero the ``ratio`` share of each layer's weights with the smallest magnitude.

    Args:
        model: Model to prune in place (a mask is added to every conv/linear layer).
        ratio: Share of weights (unstructured) or of output filters (filter) to remove, per layer.
        granularity: ``"unstructured"`` ranks single weights by ``|w|``; ``"filter"`` ranks output
            channels by the L1 norm of their weights and never removes the output layer's
            channels (they are the classes) nor a layer's last channel.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(
            f"The 'ratio' parameter of magnitude_prune must be a float in [0, 1). Got {ratio} instead."
        )
    if granularity not in ("unstructured", "filter"):
        raise ValueError(
            f"The 'granularity' parameter must be one of {{unstructured, filter}}. Got {granularity!r} instead."
        )
    if ratio == 0.0:
        return
    layers = prunable_layers(model)
    for i, (_, module) in enumerate(layers):
        w = module.weight.detach()
        if granularity == "unstructured":
            n_prune = int(round(ratio * w.numel()))
            if n_prune == 0:
                continue
            mask = torch.ones(w.numel(), device=w.device)
            order = torch.argsort(w.abs().flatten(), stable=True)
            mask[order[:n_prune]] = 0.0
            mask = mask.reshape(w.shape)
        else:
            if i == len(layers) - 1:
                continue
            channels = w.shape[0]
            n_prune = min(int(round(ratio * channels)), channels - 1)
            if n_prune == 0:
                continue
            norms = w.reshape(channels, -1).abs().sum(1)
            keep = torch.ones(channels, device=w.device)
            keep[torch.argsort(norms, stable=True)[:n_prune]] = 0.0
            mask = keep.reshape(-1, *([1] * (w.dim() - 1))).expand_as(w).contiguous()
        cw = constraint(module)
        cw.mask = mask if cw.mask is None else cw.mask * mask
