"""DeepLIFT importance through Captum (seed 001): one attribution pass replaces HYDRA's
score initialisation and optimisation.

Captum attributes to inputs and to layer activations, not to parameters, and implements the
Rescale rule. A per-weight score is built from it as follows (the DeepLIFT decomposition of
one layer ``z = W a + b``: the contribution of the edge ``a_i -> z_j`` is
``m_j * w_ji * (a_i - a_i')``):

1. ``m``: the DeepLIFT multipliers of the layer's *output* towards the true-class logit,
   from ``captum.attr.LayerDeepLift`` (``custom_attribution_func`` hands them over), against
   a zero (or calibration-mean) input baseline;
2. ``a - a'``: the layer's input on the image minus its input on the baseline;
3. per image, the weight's contribution ``w * sum_p m(p) (a - a')(p + k)`` (for a conv the
   sum runs over output positions ``p``, which is the weight-gradient correlation; for a
   linear layer it is ``w_ji m_j (a_i - a_i')``);
4. score = mean over the calibration batch (128 training images) of the absolute
   contribution. The top-k mask follows directly (``pruning.masks_from_scores``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from moo_compress.data.base import to_tensor
from moo_compress.weights.constraints import prunable_layers
from moo_compress.weights.masks import PruneContext, layer_ratios, masks_from_scores

__all__ = ["CALIBRATION_IMAGES", "deeplift_masks", "deeplift_scores"]

CALIBRATION_IMAGES = 128


def _calibration(ctx: PruneContext) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(ctx.seed)
    n = min(CALIBRATION_IMAGES, len(ctx.x_train))
    idx = np.sort(rng.choice(len(ctx.x_train), size=n, replace=False))
    return ctx.x_train[idx], ctx.y_train[idx]


def _layer_inputs(
    model: nn.Module, modules: list[nn.Module], x: torch.Tensor
) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.__setitem__(id(mod), inp[0].detach()))
        for m in modules
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return [seen[id(m)] for m in modules]


def _contribution(module: nn.Module, mult: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Mean over images of |w * sum_p m (a - a')| for every weight of ``module``."""
    w = module.weight.detach()
    if isinstance(module, nn.Linear):
        corr = torch.einsum("bj,bi->bji", mult, delta).abs().mean(0)
        return w.abs() * corr
    total = torch.zeros_like(w)
    for b in range(mult.shape[0]):
        corr = torch.nn.grad.conv2d_weight(
            delta[b : b + 1],
            w.shape,
            mult[b : b + 1],
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
        )
        total += (w * corr).abs()
    return total / mult.shape[0]


class _Evidence(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.evidence(x)


def deeplift_scores(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Per-weight DeepLIFT importance of every layer that has something to prune.

    Args:
        model: The model to score (put in eval mode); a detector explains its
            ``evidence`` output.
        ctx: Ratios per layer, seed and training images (a calibration sample of
            :data:`CALIBRATION_IMAGES` is drawn with the seed) and the
            ``deeplift_baseline`` option (``"zero"``, the default, or ``"mean"``).

    Returns:
        Layer name -> mean absolute contribution of each weight, for layers with a ratio
        above 0.
    """
    device = next(model.parameters()).device
    model.eval()
    x_np, y_np = _calibration(ctx)
    x = to_tensor(x_np).to(device)
    # a detector names one scalar output per image to attribute (its ``evidence``: per-class
    # heatmap logits averaged over the image) and the class to explain
    explained = _Evidence(model) if hasattr(model, "evidence") else model
    y = (
        model.evidence_target(torch.as_tensor(y_np, device=device))
        if hasattr(model, "evidence")
        else torch.as_tensor(y_np, dtype=torch.long, device=device)
    )
    if ctx.options.get("deeplift_baseline", "zero") == "mean":
        baseline = x.mean(0, keepdim=True).expand_as(x).contiguous()
    else:
        baseline = torch.zeros_like(x)
    ratios = layer_ratios(model, ctx)
    layers = [(n, m) for n, m in prunable_layers(model) if ratios[n] > 0]
    modules = [m for _, m in layers]
    inputs = _layer_inputs(model, modules, x)
    references = _layer_inputs(model, modules, baseline)
    multipliers = _output_multipliers(explained, modules, x, baseline, y)
    return {
        name: _contribution(module, multipliers[id(module)], a - a_ref)
        for (name, module), a, a_ref in zip(layers, inputs, references, strict=True)
    }


def _output_multipliers(
    explained: nn.Module,
    modules: list[nn.Module],
    x: torch.Tensor,
    baseline: torch.Tensor,
    y: torch.Tensor,
) -> dict[int, torch.Tensor]:
    """The DeepLIFT multipliers of every module's output towards the target, from one
    ``captum.attr.DeepLift`` pass (its Rescale rule's backward through the whole model).

    ``LayerDeepLift(model, layer)`` takes the gradient of the same backward at one layer's
    output, the input half of its (inputs, baselines) batch; one pass with a gradient hook on
    every layer's output gives all of them (one forward and backward instead of one per
    layer; ``tests/compression/test_deeplift.py`` checks they are LayerDeepLift's).
    """
    from captum.attr import DeepLift

    grads: dict[int, torch.Tensor] = {}

    def keep(module: nn.Module, _inp, out: torch.Tensor) -> torch.Tensor:
        # zeros when the output does not reach the target (no gradient flows back to it)
        grads[id(module)] = torch.zeros_like(out).detach()
        if out.requires_grad:
            out.register_hook(lambda g: grads.__setitem__(id(module), g.detach()))
        # the layer passes on a copy, as LayerDeepLift's hook does: a nonlinearity right
        # after it then sees a tensor of its own
        return out.clone()

    hooks = [m.register_forward_hook(keep) for m in modules]
    try:
        DeepLift(explained).attribute(x, baselines=baseline, target=y)
    finally:
        for h in hooks:
            h.remove()
    return {key: g[: len(g) // 2] for key, g in grads.items()}


def _layer_deeplift_multipliers(
    explained: nn.Module, module: nn.Module, x: torch.Tensor, baseline: torch.Tensor, y
) -> torch.Tensor:
    """One layer's output multipliers through ``captum.attr.LayerDeepLift`` (the reference
    :func:`_output_multipliers` is checked against)."""
    from captum.attr import LayerDeepLift

    captured: list[torch.Tensor] = []

    def keep_multipliers(multipliers, _inputs, _baselines):
        captured.append(multipliers[0].detach())
        return multipliers

    LayerDeepLift(explained, module).attribute(
        x,
        baselines=baseline,
        target=y,
        attribute_to_layer_input=False,
        custom_attribution_func=keep_multipliers,
    )
    return captured[0]


def deeplift_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Keep-masks from :func:`deeplift_scores` at the context's ratios and granularity.

    Args:
        model: The model to score.
        ctx: What :func:`deeplift_scores` uses, and the granularity.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    return masks_from_scores(model, deeplift_scores(model, ctx), ctx)
