"""The corruption parameters of each published benchmark, from its original generation script.

Hendrycks & Dietterich made each "-C" set with its own script (hendrycks/robustness,
``ImageNet-C/create_c/``), whose constants fit its image size:

========================  ===========================  ==========  ===========================
set                       script                       image size  images before corrupting
========================  ===========================  ==========  ===========================
``cifar``                 ``make_cifar_c.py``          32x32       CIFAR-10/100 test images
``tinyimagenet``          ``make_tinyimagenet_c.py``   64x64       Tiny-ImageNet validation
``imagenet64``            ``make_imagenet_64_c.py``    64x64       ImageNet resized to 64x64
``imagenet``              ``make_imagenet_c.py``       224x224     resize 256, centre crop 224
========================  ===========================  ==========  ===========================

``make_tinyimagenet_c.py`` and ``make_imagenet_64_c.py`` hold the same corruptions with the
same constants (they differ only in their folders and which corruptions are switched on), so
``tinyimagenet`` and ``imagenet64`` give the same images; both names are kept, as users know
the benchmarks by them.

Besides the per-severity constants, three things follow the set: the side of the plasma
fractal fog draws (32, 64, 256; cropped to the image), how much the frost photographs are
shrunk before a crop is cut (0.2, 0.3, not at all), and the size the elastic transform's
constants are multiplied by (32, 64, and ImageNet's 244, "should have been 224" in the
script). A set's constants are in pixels of its own image size and are used as they are at
other sizes (:func:`auto_parameters` picks the set nearest to the image size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "AUTO",
    "PARAMETER_SETS",
    "ParameterSet",
    "auto_parameters",
    "nearest_set_note",
    "parameter_names",
    "resolve_parameters",
    "severity_values",
]

AUTO = "auto"
"""``corruptions.parameters: auto``: the set whose image size is nearest (see
:func:`auto_parameters`)."""


@dataclass(frozen=True)
class ParameterSet:
    """One published benchmark's corruption parameters.

    Args:
        name: Its name in study files (``corruptions.parameters``).
        title: The benchmark, for messages and reports.
        image_size: The side of the images its script corrupts.
        script: The original generation script it is taken from.
        plasma_mapsize: Side of fog's plasma fractal (a power of two, cropped to the image).
        frost_scale: Factor the frost photographs are shrunk by before a crop (1: kept).
        elastic_size: The size the elastic transform's constants are multiplied by.
        values: Corruption name -> its five severities' parameters (severity 1 first).
    """

    name: str
    title: str
    image_size: int
    script: str
    plasma_mapsize: int
    frost_scale: float
    elastic_size: float
    values: Mapping[str, tuple]


# zoom_blur's parameters are np.arange(1, end, step), as (end, step)
_CIFAR = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    "spatter": (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # (alpha, sigma, affine) as fractions of elastic_size
    "elastic_transform": (
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ),
}

_TINY = {
    "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
    "shot_noise": (250, 100, 50, 30, 15),
    "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
    "speckle_noise": (0.15, 0.2, 0.25, 0.3, 0.35),
    "gaussian_blur": (0.5, 0.75, 1, 1.25, 1.5),
    "glass_blur": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
    "defocus_blur": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
    "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
    "zoom_blur": _CIFAR["zoom_blur"],
    "fog": ((0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
    "frost": ((1, 0.3), (0.9, 0.4), (0.8, 0.45), (0.75, 0.5), (0.7, 0.55)),
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.8),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6),
    ),
    "spatter": (
        (0.62, 0.1, 0.7, 0.7, 0.6, 0),
        (0.65, 0.1, 0.8, 0.7, 0.6, 0),
        (0.65, 0.3, 1, 0.69, 0.6, 0),
        (0.65, 0.1, 0.7, 0.68, 0.6, 1),
        (0.65, 0.1, 0.5, 0.67, 0.6, 1),
    ),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)),
    "jpeg_compression": (65, 58, 50, 40, 25),
    "pixelate": (0.9, 0.8, 0.7, 0.6, 0.5),
    "elastic_transform": (
        (0, 0, 0.08),
        (0.05, 0.3, 0.06),
        (0.1, 0.08, 0.06),
        (0.1, 0.03, 0.03),
        (0.16, 0.03, 0.02),
    ),
}

_IMAGENET = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
    "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
    "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    "snow": (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    "spatter": (
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    "jpeg_compression": (25, 18, 15, 10, 7),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "elastic_transform": (
        (2, 0.7, 0.1),
        (2, 0.08, 0.2),
        (0.05, 0.01, 0.02),
        (0.07, 0.01, 0.02),
        (0.12, 0.01, 0.02),
    ),
}

_TINY_VALUES = MappingProxyType(_TINY)
PARAMETER_SETS: dict[str, ParameterSet] = {
    s.name: s
    for s in (
        ParameterSet(
            "cifar", "CIFAR-10-C", 32, "make_cifar_c.py", 32, 0.2, 32, MappingProxyType(_CIFAR)
        ),
        ParameterSet(
            "tinyimagenet",
            "Tiny-ImageNet-C",
            64,
            "make_tinyimagenet_c.py",
            64,
            0.3,
            64,
            _TINY_VALUES,
        ),
        ParameterSet(
            "imagenet64",
            "ImageNet-64x64-C",
            64,
            "make_imagenet_64_c.py",
            64,
            0.3,
            64,
            _TINY_VALUES,
        ),
        ParameterSet(
            "imagenet",
            "ImageNet-C",
            224,
            "make_imagenet_c.py",
            256,
            1.0,
            244,
            MappingProxyType(_IMAGENET),
        ),
    )
}
"""Every published set, by name."""


def parameter_names() -> list[str]:
    """The values ``corruptions.parameters`` takes: ``auto`` and every set's name."""
    return [AUTO, *PARAMETER_SETS]


def severity_values(parameters: str, name: str, severity: int) -> tuple | float:
    """One corruption's parameters at one severity.

    Args:
        parameters: A set's name (:data:`PARAMETER_SETS`).
        name: The corruption.
        severity: 1..5.
    """
    return PARAMETER_SETS[parameters].values[name][severity - 1]


def auto_parameters(height: int, width: int) -> tuple[str, bool]:
    """The set ``auto`` picks for images of ``height`` x ``width``, and whether its image
    size is theirs.

    The rule: the set whose image size is nearest on a log scale to the images' shorter
    side, so up to 45 pixels (the geometric mean of 32 and 64) ``cifar``, up to 119 (that
    of 64 and 224) ``tinyimagenet``, above ``imagenet``. Of the two 64-pixel sets, which
    are the same, ``tinyimagenet`` is named.

    Args:
        height: Image rows.
        width: Image columns.
    """
    side = min(height, width)
    best = min(
        (s for s in PARAMETER_SETS.values() if s.name != "imagenet64"),
        key=lambda s: abs(math.log(side / s.image_size)),
    )
    return best.name, (height, width) == (best.image_size, best.image_size)


def nearest_set_note(height: int, width: int, parameters: str) -> str:
    """The one-line note that images of a size no set is made for use ``parameters``.

    Args:
        height: Image rows.
        width: Image columns.
        parameters: The set used.
    """
    s = PARAMETER_SETS[parameters]
    return (
        f"note: no published corruption set is made for {height}x{width} images; the "
        f"corruptions use {s.title}'s parameters ({parameters}, made for "
        f"{s.image_size}x{s.image_size}), the nearest (corruptions.parameters chooses another)"
    )


def resolve_parameters(choice: str, height: int, width: int) -> tuple[str, str | None]:
    """The set used for images of ``height`` x ``width``, and a note to say once when it is
    not made for that size.

    Args:
        choice: ``corruptions.parameters``: ``auto`` or a set's name.
        height: Image rows.
        width: Image columns.

    Returns:
        ``(set name, note or None)``.
    """
    if choice == AUTO:
        name, exact = auto_parameters(height, width)
        return name, None if exact else nearest_set_note(height, width, name)
    s = PARAMETER_SETS[choice]
    if (height, width) == (s.image_size, s.image_size):
        return choice, None
    return choice, (
        f"note: corruptions.parameters: {choice} ({s.title}) is made for "
        f"{s.image_size}x{s.image_size} images and is used on {height}x{width} ones as it is"
    )
