"""Quantization-aware training (technique 9): uniform symmetric per-channel fake quantization
of weights at 2-8 bits and, optionally, 8-bit fake quantization of activations.

Weights: see ``weights.constraints.fake_quantize`` (per output channel, straight-through
gradient). Activations (``act_bits: 8``): :mod:`moo_compress.weights.activations`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from moo_compress.compression.params import stage_value
from moo_compress.compression.stage import StageContext
from moo_compress.weights.activations import (
    RANGE_MOMENTUM,
    ActivationQuantizer,
    calibrate_activations,
    quantize_activations,
    remove_activation_quantizers,
)
from moo_compress.weights.constraints import constraint, prunable_layers

__all__ = [
    "RANGE_MOMENTUM",
    "ActivationQuantizer",
    "calibrate_activations",
    "quantize_activations",
    "qat_stage",
    "quantize_weights",
    "remove_activation_quantizers",
]


def quantize_weights(model: nn.Module, bits: int | dict[str, int]) -> None:
    """Fake-quantize conv/linear weights from now on.

    Quantization composes after the mask and the centroid tie, so pruned weights stay zero
    and clustered layers quantize their tied values. Gradients pass straight through.

    Args:
        model: Model to annotate in place.
        bits: Bit-width in [2, 8] for every layer, or a per-layer map (32, also for a layer
            the map does not name, leaves a layer in float).

    Raises:
        ValueError: A bit-width outside [2, 8] other than 32.
    """
    for name, module in prunable_layers(model):
        b = bits.get(name, 32) if isinstance(bits, dict) else bits
        if b == 32:
            continue
        if not 2 <= b <= 8:
            raise ValueError(
                f"The 'bits' parameter of quantize_weights must be an int in [2, 8] or 32. Got {b} instead."
            )
        constraint(module).bits = int(b)


def qat_stage(model: nn.Module, config: dict[str, Any], ctx: StageContext) -> nn.Module:
    """The pipeline's QAT stage: weights at ``quant_bits`` (per layer where the configuration
    says so) and, with ``act_bits: 8``, activations at 8 bits, their ranges calibrated on 256
    training images.

    Args:
        model: The model to annotate in place.
        config: The resolved configuration.
        ctx: The build's data and settings.
    """
    from moo_compress.data.base import to_tensor  # the data room: torch, and images as floats

    quantize_weights(model, {n: int(stage_value(config, "quant_bits", n)) for n in ctx.layers})
    if config["act_bits"] == 8:
        quantize_activations(model, 8)
        calibrate_activations(model, to_tensor(ctx.sample(256, ctx.seed)))
    return model
