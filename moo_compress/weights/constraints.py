"""Weight constraints that keep each compression stage in force during fine-tuning.

Every prunable layer gets one parametrization of its ``weight`` (``torch.nn.utils.parametrize``)
that computes the effective weight from

- a binary mask (pruning): pruned weights are zero in every forward pass, so no optimizer
  step can revive them;
- a centroid tie (clustering): the weight is ``centroids[indices]``; the centroids are the
  trainable parameters, so weights stay tied to their cluster;
- fake quantization (QAT): symmetric, per output channel, ``bits`` bits, with a
  straight-through estimator for the gradient.

The stages compose in this order, which is what the packed artifact stores.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "CompressedWeight",
    "bake",
    "channel_scale",
    "constraint",
    "existing_constraint",
    "fake_quantize",
    "prunable_layers",
    "quantize_codes",
    "raw_weight",
]

PRUNABLE = (nn.Conv2d, nn.Linear)


class _RoundSTE(torch.autograd.Function):
    """``round(w / s).clamp(-q, q) * s`` forward; identity gradient (straight-through)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, scale: torch.Tensor, qmax: int) -> torch.Tensor:
        return quantize_codes(w, scale, qmax) * scale

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


class _Tie(torch.autograd.Function):
    """``centroids[indices]`` forward; backward gives each centroid the *mean* gradient of
    the weights tied to it.

    The summed gradient (what plain indexing gives) is tens of thousands of weights' worth
    in a dense layer and makes SGD diverge; the mean moves a centroid like one weight. The
    sum is a serial ``bincount`` in float64, so it is deterministic on multi-threaded CPUs
    (the parallel scatter-add behind indexing is not).
    """

    @staticmethod
    def forward(
        ctx, centroids: torch.Tensor, indices: torch.Tensor, inv_counts: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(indices, inv_counts)
        ctx.k = centroids.numel()
        return centroids[indices]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        indices, inv_counts = ctx.saved_tensors
        flat = indices.reshape(-1)
        summed = torch.bincount(
            flat.cpu(), weights=grad.reshape(-1).double().cpu(), minlength=ctx.k
        )
        return (summed.to(grad.device) * inv_counts.double()).to(grad.dtype), None, None


def channel_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel symmetric scale, shaped to broadcast against ``w``.

    Args:
        w: A weight, output channels first.
        bits: Bit-width; the channel's largest magnitude maps to ``2**(bits - 1) - 1``.
    """
    qmax = 2 ** (bits - 1) - 1
    flat = w.detach().reshape(w.shape[0], -1)
    amax = flat.abs().amax(dim=1).clamp_min(1e-12)
    return (amax / qmax).reshape(-1, *([1] * (w.dim() - 1)))


def quantize_codes(w: torch.Tensor, scale: torch.Tensor, qmax: int) -> torch.Tensor:
    """Integer codes (as floats) ``round(w / scale)`` clamped to ``[-qmax, qmax]``.

    Args:
        w: A weight.
        scale: Its scale (see :func:`channel_scale`), broadcast against ``w``.
        qmax: The largest code magnitude.
    """
    return torch.clamp(torch.round(w / scale), -qmax, qmax)


def fake_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-channel fake quantization at ``bits`` bits (at most 2**bits - 1 levels).

    The gradient passes straight through the rounding.

    Args:
        w: A weight, output channels first.
        bits: Bit-width.
    """
    return _RoundSTE.apply(w, channel_scale(w, bits), 2 ** (bits - 1) - 1)


class CompressedWeight(nn.Module):
    """The parametrization holding one layer's mask, centroid tie and bit-width.

    Every part starts unset (None); the compression stages fill them in.

    Args:
        shape: The shape of the layer's weight.
    """

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("mask", None)
        self.register_buffer("indices", None)
        self.register_buffer("inv_counts", None)
        self.centroids: nn.Parameter | None = None
        self.bits: int | None = None

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """The effective weight: tied to the centroids, masked, then fake-quantized (each
        only when set).

        Args:
            w: The raw weight (ignored when the weights are tied to centroids).
        """
        if self.indices is not None:
            w = _Tie.apply(self.centroids, self.indices, self.inv_counts)
        if self.mask is not None:
            w = w * self.mask
        if self.bits is not None:
            w = fake_quantize(w, self.bits)
        return w


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers, in module order.

    Args:
        model: The model to walk.

    Returns:
        ``(qualified name, module)`` pairs.
    """
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PRUNABLE)]


def constraint(module: nn.Module) -> CompressedWeight:
    """The layer's constraint, registered on first use.

    Args:
        module: A prunable layer.
    """
    cw = existing_constraint(module)
    if cw is not None:
        return cw
    cw = CompressedWeight(module.weight.shape).to(module.weight.device)
    parametrize.register_parametrization(module, "weight", cw, unsafe=True)
    return cw


def existing_constraint(module: nn.Module) -> CompressedWeight | None:
    """The layer's constraint, or None when it has none (nothing is registered).

    Args:
        module: A prunable layer.
    """
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations.weight:
            if isinstance(p, CompressedWeight):
                return p
    return None


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The unconstrained weight tensor (what the optimizer updates when not tied).

    Args:
        module: A prunable layer, constrained or not.
    """
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def bake(model: nn.Module) -> nn.Module:
    """Replace every constraint by its current effective weight (plain modules remain).

    ``torch.nn.utils.parametrize.remove_parametrizations`` deletes the ``weight`` property
    from the module's class, and a deep copy of a parametrized module shares that class
    with the original, so removing it from a copy would break the original. Here only the
    instance changes: it gets its plain class back and the effective weight as a parameter.

    Args:
        model: The model, changed in place.

    Returns:
        The same ``model``.
    """
    with torch.no_grad():
        for _, module in prunable_layers(model):
            if parametrize.is_parametrized(module, "weight"):
                weight = module.weight.detach().clone()
                module.__class__ = type(module).__bases__[0]
                del module._modules["parametrizations"]
                module.weight = nn.Parameter(weight)
    return model
