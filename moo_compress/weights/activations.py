"""Fake quantization of activations: the input of every conv/linear layer, unsigned 8 bits
per tensor, over a range tracked as an exponential moving average of the batch min/max during
training and frozen in eval mode (as TF-MOT and PyTorch's observers do); the range always
contains 0 and the gradient passes straight through.

A weight primitive, as the weight constraints are: the QAT technique
(:mod:`moo_compress.compression.quantization`) switches it on, the packed model file restores
it, and the ONNX export removes it.
"""

from __future__ import annotations

import torch
from torch import nn

from moo_compress.weights.constraints import prunable_layers

__all__ = [
    "ActivationQuantizer",
    "calibrate_activations",
    "quantize_activations",
    "remove_activation_quantizers",
]

RANGE_MOMENTUM = 0.1


class ActivationQuantizer(nn.Module):
    """Unsigned per-tensor fake quantization with a moving-average range.

    Args:
        bits: Bit-width (default 8).
    """

    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits
        self.register_buffer("range", torch.zeros(2))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` fake-quantized over the range (updated first in training mode).

        Args:
            x: An activation tensor.
        """
        if self.training:
            with torch.no_grad():
                batch = torch.stack([x.min(), x.max()]).to(self.range)
                if int(self.seen) == 0:
                    self.range.copy_(batch)
                else:
                    self.range.lerp_(batch, RANGE_MOMENTUM)
                self.seen += 1
        lo = torch.clamp(self.range[0], max=0.0)
        hi = torch.clamp(self.range[1], min=0.0)
        levels = 2**self.bits - 1
        scale = torch.clamp((hi - lo) / levels, min=1e-8)
        zero = torch.round(-lo / scale)
        q = torch.clamp(torch.round(x / scale) + zero, 0, levels)
        return x + ((q - zero) * scale - x).detach()


def _quantize_input(module: nn.Module, args):
    return (module.act_quant(args[0]), *args[1:])


def quantize_activations(model: nn.Module, bits: int = 8) -> None:
    """Fake-quantize the input of every conv/linear layer at ``bits`` bits from now on.

    A layer that already has an activation quantizer keeps it.

    Args:
        model: Model to annotate in place.
        bits: Bit-width (default 8).
    """
    for _, module in prunable_layers(model):
        if not hasattr(module, "act_quant"):
            module.act_quant = ActivationQuantizer(bits)
            module.register_forward_pre_hook(_quantize_input)


def remove_activation_quantizers(model: nn.Module) -> nn.Module:
    """Remove every activation quantizer and its hook (the inputs stay float).

    Args:
        model: The model, changed in place.

    Returns:
        The same ``model``.
    """
    for _, module in prunable_layers(model):
        if hasattr(module, "act_quant"):
            del module.act_quant
            for key, hook in list(module._forward_pre_hooks.items()):
                if hook is _quantize_input:
                    del module._forward_pre_hooks[key]
    return model


@torch.no_grad()
def calibrate_activations(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> None:
    """Set activation ranges from ``images`` (float NCHW) without touching batch norm.

    The model is left in eval mode.

    Args:
        model: A model with activation quantizers.
        images: Calibration images, float NCHW.
        batch_size: Images per forward pass (default 256).
    """
    model.eval()
    images = images.to(next(model.parameters()).device)
    quantizers = [m.act_quant for _, m in prunable_layers(model) if hasattr(m, "act_quant")]
    for q in quantizers:
        q.train()
    try:
        for i in range(0, len(images), batch_size):
            model(images[i : i + batch_size])
    finally:
        for q in quantizers:
            q.eval()
