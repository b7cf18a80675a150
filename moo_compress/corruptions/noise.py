"""Noise corruptions: gaussian, shot, impulse (standard) and speckle (extra).

All take ``x`` (N, C, H, W) in [0, 1], a severity 1..5 and a CPU ``torch.Generator``, and
return a tensor of the same shape in [0, 1]. Parameters: REFERENCE.md section 2.
"""

from __future__ import annotations

import torch

from moo_compress.corruptions._filters import rand, randn
from moo_compress.corruptions.parameters import severity_values

__all__ = ["gaussian_noise", "impulse_noise", "shot_noise", "speckle_noise"]


def gaussian_noise(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Additive Gaussian noise, standard deviation 0.04 to 0.10 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "gaussian_noise", severity)
    return (x + randn(x.shape, gen, x.device, scale=c)).clamp(0, 1)


def shot_noise(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Poisson noise: ``poisson(x c) / c`` with ``c`` from 500 down to 50 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "shot_noise", severity)
    return (torch.poisson((x * c).cpu(), generator=gen).to(x.device) / c).clamp(0, 1)


def impulse_noise(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Salt-and-pepper noise: each value becomes 0 or 1 with probability 0.01 to 0.07 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    # skimage.util.random_noise(mode='s&p', amount=c): each value is replaced, with
    # probability c, by 0 or 1 (equally likely).
    c = severity_values(parameters, "impulse_noise", severity)
    flipped = rand(x.shape, gen, x.device) <= c
    salted = rand(x.shape, gen, x.device) <= 0.5
    return torch.where(flipped, salted.to(x.dtype), x)


def speckle_noise(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Multiplicative Gaussian noise ``x + x n``, standard deviation 0.06 to 0.2 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "speckle_noise", severity)
    return (x + x * randn(x.shape, gen, x.device, scale=c)).clamp(0, 1)
