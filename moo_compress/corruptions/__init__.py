"""Natural corruptions (CIFAR-10-C parameters), batched on tensors in [0, 1], found by name.

``STANDARD`` are the 15 corruptions that mCE averages over; ``EXTRA`` the 4 held-out ones of
Hendrycks & Dietterich. Every function has the signature
``fn(x: Tensor[N, C, H, W] in [0, 1], severity: int 1..5, gen: torch.Generator) -> Tensor``.
"""

from __future__ import annotations

from moo_compress._utils.registry import Registry

STANDARD = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")

_MODULE = {
    "gaussian_noise": "noise",
    "shot_noise": "noise",
    "impulse_noise": "noise",
    "speckle_noise": "noise",
    "defocus_blur": "blur",
    "glass_blur": "blur",
    "motion_blur": "blur",
    "zoom_blur": "blur",
    "gaussian_blur": "blur",
    "snow": "weather",
    "frost": "weather",
    "fog": "weather",
    "brightness": "weather",
    "spatter": "weather",
    "contrast": "digital",
    "elastic_transform": "digital",
    "pixelate": "digital",
    "jpeg_compression": "digital",
    "saturate": "digital",
}

CORRUPTIONS = Registry(
    "corruption",
    {name: f"moo_compress.corruptions.{_MODULE[name]}:{name}" for name in STANDARD + EXTRA},
)

SEVERITIES = (1, 2, 3, 4, 5)

__all__ = ["CORRUPTIONS", "EXTRA", "SEVERITIES", "STANDARD"]
