"""Pruning: an importance criterion (``prune_method``) x a granularity (``prune_granularity``).

Every criterion is one module behind :data:`PRUNE_METHODS` and returns, per conv/linear
layer, a keep-mask of the weight's shape:

- ``magnitude`` (|w|) and ``random``: baselines;
- ``hydra``: HYDRA score optimisation from scaled initialisation (``compression.hydra``);
- ``deeplift``: per-weight DeepLIFT contributions from Captum (``compression.deeplift``);
- ``saliency`` and ``datafree``: hidden-unit pruning of fully connected layers without data,
  one-shot or by simulated annealing (seed 002, ``compression.datafree``).

Score-based criteria share :func:`masks_from_scores`, which applies the granularity:

- ``unstructured``: single weights;
- ``kernel``: a conv kernel (one output x input channel pair) is kept or removed whole; its
  importance is the mean of its weights' scores (seed 001). A linear layer's "kernel" is one
  weight, so linear layers prune as unstructured;
- ``filter``: whole output channels, ranked by the mean score of their weights, are
  *physically removed* (``torch-pruning`` rewires the following layers and batch norms), so
  the model really gets smaller and faster. The output layer keeps all its channels.

The masks become constraints (``weights.constraints``) that stay in force through every
later stage; removed filters are simply gone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from moo_compress.compression.magnitude import magnitude_masks, random_masks
from moo_compress.compression.params import PRUNE_METHODS, stage_value
from moo_compress.compression.stage import StageContext
from moo_compress.weights.constraints import constraint, prunable_layers
from moo_compress.weights.masks import (
    PruneContext,
    layer_ratios,
    masks_from_scores,
    topk_mask,
)


def remove_filters(
    model: nn.Module, masks: dict[str, torch.Tensor], input_shape: tuple[int, ...]
) -> nn.Module:
    """Physically remove output channels whose mask row is all zero (torch-pruning).

    Every layer that consumes a removed channel (the next conv's input channels, batch-norm
    statistics, a flatten into a linear layer, depthwise partners, residual partners) is
    rewired by torch-pruning's dependency graph. In a coupled group (e.g. channels joined by
    a residual addition) the group's first layer's mask decides. The output layer keeps
    every channel, and a layer whose every channel would go keeps them all. A group that
    reaches a grouped convolution (neither plain nor depthwise), whose channels cannot be
    removed one by one, keeps its channels: it is skipped and named in the model's
    ``compression_skipped`` list.

    Args:
        model: The model, changed in place.
        masks: Layer name -> keep-mask (output channels first).
        input_shape: (C, H, W) of the model's input, for tracing the dependency graph.

    Returns:
        The same ``model``.
    """
    import torch_pruning as tp

    layers = prunable_layers(model)
    names = {id(m): n for n, m in layers}
    device = next(model.parameters()).device
    example = torch.zeros(1, *input_shape, device=device)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    groups = graph.get_all_groups(
        ignored_layers=[layers[-1][1]], root_module_types=[nn.Conv2d, nn.Linear]
    )
    for group in groups:  # each coupled set of channels once, decided by its first layer
        root = group[0].dep.target.module
        mask = masks.get(names.get(id(root), ""))
        if mask is None or mask.shape[0] != root.weight.shape[0]:
            continue
        rows = mask.reshape(mask.shape[0], -1)
        drop = [int(i) for i in torch.nonzero(rows.sum(1) == 0).flatten()]
        if not drop or len(drop) >= rows.shape[0]:
            continue
        if isinstance(root, nn.Conv2d):
            fn = tp.prune_conv_out_channels
        else:
            fn = tp.prune_linear_out_channels
        pruning = graph.get_pruning_group(root, fn, idxs=drop)
        grouped = [
            names.get(id(d.target.module), type(d.target.module).__name__)
            for d, _ in pruning
            if isinstance(d.target.module, nn.Conv2d)
            and 1 < d.target.module.groups
            and not d.target.module.groups
            == d.target.module.in_channels
            == d.target.module.out_channels
        ]
        if grouped:
            skipped(model).append(
                f"filter pruning of {names.get(id(root))}: skipped (its channels reach the "
                f"grouped convolution {grouped[0]})"
            )
            continue
        pruning.prune()
    return model


def skipped(model: nn.Module) -> list[str]:
    """What a compression stage could not do to ``model`` and skipped (one line each),
    kept on the model as ``compression_skipped``.

    Args:
        model: The model being compressed.
    """
    if not hasattr(model, "compression_skipped"):
        model.compression_skipped = []
    return model.compression_skipped


def prune(model: nn.Module, method: str, ctx: PruneContext) -> nn.Module:
    """Prune ``model`` in place with ``method`` at ``ctx``'s ratios and granularity.

    Args:
        model: The model to prune.
        method: A name in :data:`PRUNE_METHODS`.
        ctx: Ratios per layer (each in [0, 1)), granularity and what the criterion uses.

    Returns:
        The model (the same object; under ``filter`` granularity its layers are smaller).

    Raises:
        ValueError: An unknown granularity, or a ratio outside [0, 1).
        KeyError: An unknown ``method``.
    """
    if ctx.granularity not in ("unstructured", "kernel", "filter"):
        raise ValueError(
            f"The 'granularity' parameter must be one of {{unstructured, kernel, filter}}. Got {ctx.granularity!r} instead."
        )
    bad = {n: r for n, r in ctx.ratios.items() if not 0.0 <= r < 1.0}
    if bad:
        name, r = next(iter(bad.items()))
        raise ValueError(
            f"The pruning ratio of layer {name} must be a float in [0, 1). Got {r} instead."
        )
    if not any(ctx.ratios.values()):
        return model
    masks = PRUNE_METHODS.get(method)(model, ctx)
    if ctx.granularity == "filter":
        return remove_filters(model, masks, ctx.input_shape)
    layers = dict(prunable_layers(model))
    with torch.no_grad():
        for name, mask in masks.items():
            module = layers[name]
            if bool(mask.bool().all()):
                continue
            cw = constraint(module)
            mask = mask.to(module.weight.device, module.weight.dtype)
            cw.mask = mask if cw.mask is None else cw.mask * mask
    return model


def magnitude_prune(model: nn.Module, ratio: float, granularity: str) -> nn.Module:
    """Magnitude pruning at one ratio for every layer (seed-000 technique 3).

    Args:
        model: The model, pruned in place.
        ratio: Share of each layer's weights (or kernels, filters) to prune, in [0, 1).
        granularity: ``unstructured``, ``kernel`` or ``filter``.

    Returns:
        The model (the same object).
    """
    ratios = {name: ratio for name, _ in prunable_layers(model)}
    return prune(model, "magnitude", PruneContext(ratios=ratios, granularity=granularity, seed=0))


__all__ = [
    "PRUNE_METHODS",
    "PruneContext",
    "layer_ratios",
    "magnitude_masks",
    "magnitude_prune",
    "masks_from_scores",
    "prune",
    "prune_stage",
    "random_masks",
    "remove_filters",
    "skipped",
    "topk_mask",
]


def prune_stage(model: nn.Module, config: dict[str, Any], ctx: StageContext) -> nn.Module:
    """The pipeline's pruning stage: ``prune_method`` at ``prune_ratio`` (per layer where the
    configuration says so) and ``prune_granularity``.

    Args:
        model: The model to prune.
        config: The resolved configuration.
        ctx: The build's data and settings.
    """
    prune_ctx = PruneContext(
        ratios={n: float(stage_value(config, "prune_ratio", n)) for n in ctx.layers},
        granularity=config["prune_granularity"],
        seed=ctx.seed,
        x_train=ctx.x_train,
        y_train=ctx.y_train,
        train={"batch_size": ctx.finetune.batch_size, "adversarial": ctx.adversarial},
        options={
            "score_epochs": config["score_epochs"],
            "deeplift_baseline": config["deeplift_baseline"],
        },
        input_shape=ctx.input_shape,
    )
    return prune(model, config["prune_method"], prune_ctx)
