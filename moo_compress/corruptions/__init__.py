"""Natural corruptions, batched on tensors in [0, 1], found by name.

``STANDARD`` are the 15 corruptions that mCE averages over; ``EXTRA`` the 4 held-out ones of
Hendrycks & Dietterich. Every function has the signature
``fn(x: Tensor[N, C, H, W] in [0, 1], severity: int 1..5, gen: torch.Generator, *,
parameters: str = "cifar") -> Tensor``, ``parameters`` naming the published benchmark whose
constants it uses (:mod:`moo_compress.corruptions.parameters`: CIFAR-10-C, Tiny-ImageNet-C,
ImageNet-64x64-C, ImageNet-C).
"""

from __future__ import annotations

from dataclasses import dataclass

from moo_compress._utils.registry import Registry


@dataclass(frozen=True)
class CorruptionInfo:
    """One corruption: adding one is a function in its family's module plus one entry here.

    Args:
        name: The corruption's name in study files, caches and reports.
        family: The module of ``moo_compress.corruptions`` that holds the function of that
            name (``noise``, ``blur``, ``weather`` or ``digital``).
        standard: Whether mCE averages over it (the 15 of CIFAR-10-C); else it is one of
            the held-out extras, measured only when a study names it.
    """

    name: str
    family: str
    standard: bool = True

    @property
    def target(self) -> str:
        """The ``"module:function"`` string the registry imports."""
        return f"moo_compress.corruptions.{self.family}:{self.name}"


#: Every corruption, in the order of Hendrycks & Dietterich's tables (the 15 standard ones,
#: then the 4 held-out extras).
CORRUPTION_INFO: tuple[CorruptionInfo, ...] = (
    CorruptionInfo("gaussian_noise", "noise"),
    CorruptionInfo("shot_noise", "noise"),
    CorruptionInfo("impulse_noise", "noise"),
    CorruptionInfo("defocus_blur", "blur"),
    CorruptionInfo("glass_blur", "blur"),
    CorruptionInfo("motion_blur", "blur"),
    CorruptionInfo("zoom_blur", "blur"),
    CorruptionInfo("snow", "weather"),
    CorruptionInfo("frost", "weather"),
    CorruptionInfo("fog", "weather"),
    CorruptionInfo("brightness", "weather"),
    CorruptionInfo("contrast", "digital"),
    CorruptionInfo("elastic_transform", "digital"),
    CorruptionInfo("pixelate", "digital"),
    CorruptionInfo("jpeg_compression", "digital"),
    CorruptionInfo("speckle_noise", "noise", standard=False),
    CorruptionInfo("gaussian_blur", "blur", standard=False),
    CorruptionInfo("spatter", "weather", standard=False),
    CorruptionInfo("saturate", "digital", standard=False),
)

STANDARD = tuple(c.name for c in CORRUPTION_INFO if c.standard)
EXTRA = tuple(c.name for c in CORRUPTION_INFO if not c.standard)

CORRUPTIONS = Registry("corruption", {c.name: c.target for c in CORRUPTION_INFO})

SEVERITIES = (1, 2, 3, 4, 5)

__all__ = [
    "CORRUPTIONS",
    "CORRUPTION_INFO",
    "EXTRA",
    "SEVERITIES",
    "STANDARD",
    "CorruptionInfo",
]
