"""Per-layer k-means weight clustering that keeps pruned zeros at zero (techniques 5 and 7)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from moo_compress.compression.stage import StageContext
from moo_compress.weights.constraints import constraint, prunable_layers, raw_weight

__all__ = ["cluster_stage", "cluster_weights"]


@torch.no_grad()
def cluster_weights(model: nn.Module, k: int, *, seed: int, init: str = "kmeans++") -> None:
    """Tie each layer's weights to ``k`` shared values found by k-means.

    In a pruned layer, zero is one of the ``k`` values: the surviving weights get ``k - 1``
    centroids and the mask keeps pruned weights at exactly zero, so a layer never has more
    than ``k`` distinct values. From here on the centroids, not the weights, are trained.

    Args:
        model: Model to cluster in place.
        k: Number of distinct values per layer (>= 2).
        seed: Seed of the k-means++ initialisation.
        init: ``"kmeans++"`` (the default), or ``"linear"``: centroids evenly spaced between
            the layer's smallest and largest weight (TF-MOT's ``LINEAR``).

    Raises:
        ValueError: ``init`` is neither of those, or ``k < 2``.
    """
    from sklearn.cluster import KMeans

    if init not in ("kmeans++", "linear"):
        raise ValueError(
            f"The 'init' parameter of cluster_weights must be one of {{kmeans++, linear}}. Got {init!r} instead."
        )
    if k < 2:
        raise ValueError(
            f"The 'k' parameter of cluster_weights must be an int >= 2. Got {k} instead."
        )
    for _, module in prunable_layers(model):
        w = module.weight.detach()
        cw = constraint(module)
        kept = torch.ones_like(w, dtype=torch.bool) if cw.mask is None else cw.mask.bool()
        sparse = not bool(kept.all())
        values = w[kept].double().cpu().numpy()
        k_eff = min(k - 1 if sparse else k, len(np.unique(values)))
        if k_eff < 1:
            continue
        start = (
            np.linspace(values.min(), values.max(), k_eff).reshape(-1, 1)
            if init == "linear"
            else "k-means++"
        )
        km = KMeans(n_clusters=k_eff, init=start, n_init=1, random_state=seed, max_iter=100)
        labels = km.fit_predict(values.reshape(-1, 1))
        centroids = torch.tensor(km.cluster_centers_.ravel(), dtype=w.dtype, device=w.device)
        indices = torch.zeros(w.shape, dtype=torch.long, device=w.device)
        indices[kept] = torch.as_tensor(labels, dtype=torch.long, device=w.device)
        cw.indices = indices
        counts = np.bincount(labels, minlength=k_eff).clip(min=1)
        cw.inv_counts = torch.tensor(1.0 / counts, dtype=w.dtype, device=w.device)
        cw.centroids = nn.Parameter(centroids)
        raw_weight(module).requires_grad_(False)


def cluster_stage(model: nn.Module, config: dict[str, Any], ctx: StageContext) -> nn.Module:
    """The pipeline's clustering stage: ``cluster_count`` values per layer, ``cluster_init``.

    Args:
        model: The model to cluster in place.
        config: The resolved configuration.
        ctx: The build's data and settings.
    """
    cluster_weights(model, config["cluster_count"], seed=ctx.seed, init=config["cluster_init"])
    return model
