"""Uniform symmetric per-channel fake quantization of weights (QAT, technique 9)."""

from __future__ import annotations

from torch import nn

from moo_compress.compression.constraints import constraint, prunable_layers


def quantize_weights(model: nn.Module, bits: int) -> None:
    """Fake-quantize every conv/linear weight at ``bits`` bits from now on.

    Quantization composes after the mask and the centroid tie, so pruned weights stay zero
    and clustered layers quantize their tied values. Gradients pass straight through.

    Args:
        model: Model to annotate in place.
        bits: Bit-width in [2, 8].
    """
    if not 2 <= bits <= 8:
        raise ValueError(
            f"The 'bits' parameter of quantize_weights must be an int in [2, 8]. Got {bits} instead."
        )
    for _, module in prunable_layers(model):
        constraint(module).bits = int(bits)
