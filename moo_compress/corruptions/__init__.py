"""Natural corruptions (CIFAR-10-C parameters), batched on tensors in [0, 1], found by name."""

from __future__ import annotations

from moo_compress.registry import Registry

CORRUPTIONS = Registry(
    "corruption",
    {
        name: f"moo_compress.corruptions.ops:{name}"
        for name in [
            "gaussian_noise",
            "shot_noise",
            "impulse_noise",
            "defocus_blur",
            "brightness",
            "contrast",
            "pixelate",
            "jpeg_compression",
        ]
    },
)

SEVERITIES = (1, 2, 3, 4, 5)

__all__ = ["CORRUPTIONS", "SEVERITIES"]
