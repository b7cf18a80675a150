"""Corruptions of Hendrycks & Dietterich with CIFAR-10-C parameters, batched on tensors.

Every function takes ``x`` of shape (N, C, H, W) with values in [0, 1] on any device, a
severity in 1..5 and a ``torch.Generator`` (CPU) for the random ones, and returns a tensor of
the same shape in [0, 1]. Parameters are those of ``make_cifar_c.py`` (REFERENCE.md section 2).

Deviations from the reference implementation, which works on uint8 PIL images one at a time:
intermediate results are kept in float instead of being rounded to uint8 between steps
(pixelate), and random numbers come from torch instead of NumPy, so individual pixels differ
while the distributions are the same.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F


def _noise_like(x: torch.Tensor, gen: torch.Generator, kind: str = "normal") -> torch.Tensor:
    shape = tuple(x.shape)
    r = torch.randn(shape, generator=gen) if kind == "normal" else torch.rand(shape, generator=gen)
    return r.to(x.device)


def gaussian_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return (x + _noise_like(x, gen) * c).clamp(0, 1)


def shot_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    c = [500, 250, 100, 75, 50][severity - 1]
    return (torch.poisson((x * c).cpu(), generator=gen).to(x.device) / c).clamp(0, 1)


def impulse_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    # skimage.util.random_noise(mode='s&p', amount=c): each value is replaced, with
    # probability c, by 0 or 1 (equally likely).
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    flipped = _noise_like(x, gen, "uniform") <= c
    salted = _noise_like(x, gen, "uniform") <= 0.5
    out = x.clone()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


@functools.lru_cache(maxsize=16)
def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    # The reference: an aliased disk, normalised, then cv2.GaussianBlur (3x3 for radius <= 8).
    if radius <= 8:
        coords, ksize = np.arange(-8, 8 + 1), 3
    else:
        coords, ksize = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(coords, coords)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    half = ksize // 2
    g = np.exp(-(np.arange(-half, half + 1) ** 2) / (2 * alias_blur**2))
    g /= g.sum()
    padded = np.pad(disk, half, mode="reflect")  # cv2's default border, BORDER_REFLECT_101
    rows = sum(g[i] * padded[i : i + disk.shape[0], :] for i in range(ksize))
    out = sum(g[i] * rows[:, i : i + disk.shape[1]] for i in range(ksize))
    return out.astype(np.float32)


def defocus_blur(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    radius, alias_blur = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    k = torch.from_numpy(_disk_kernel(radius, alias_blur)).to(x.device, x.dtype)
    pad = k.shape[0] // 2
    channels = x.shape[1]
    weight = k.expand(channels, 1, *k.shape).contiguous()
    # cv2.filter2D is a correlation with BORDER_REFLECT_101, which is torch's "reflect".
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, groups=channels).clamp(
        0, 1
    )


def brightness(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    # Add c to the HSV value channel. For fixed hue and saturation RGB is linear in V, so
    # this equals the rgb2hsv -> +c -> hsv2rgb round trip without leaving RGB; black pixels
    # (V = 0, hence S = 0) become grey V'.
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(0, 1)
    ratio = torch.where(v > 0, v_new / v.clamp_min(1e-12), torch.zeros_like(v))
    return torch.where(v > 0, x * ratio, v_new.expand_as(x)).clamp(0, 1)


def contrast(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    means = x.mean(dim=(2, 3), keepdim=True)  # per image and channel, as np.mean(x, axis=(0, 1))
    return ((x - means) * c + means).clamp(0, 1)


@functools.lru_cache(maxsize=64)
def _pil_box_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The resampling matrix of PIL's ``Image.resize(..., Image.BOX)`` along one axis."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    mat = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        for j in range(xmin, xmax):
            t = (j - center + 0.5) / filterscale
            if -0.5 < t <= 0.5:
                mat[xx, j] = 1.0
        mat[xx] /= mat[xx].sum()
    return mat.astype(np.float32)


def _box_resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    mh = torch.from_numpy(_pil_box_matrix(x.shape[2], h)).to(x.device, x.dtype)
    mw = torch.from_numpy(_pil_box_matrix(x.shape[3], w)).to(x.device, x.dtype)
    return torch.einsum("hi,ncij,wj->nchw", mh, x, mw)


def pixelate(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[2], x.shape[3]
    small = _box_resize(x, int(h * c), int(w * c))
    return _box_resize(small, h, w).clamp(0, 1)


def jpeg_compression(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    # A real codec: libjpeg through torchvision, on uint8 images, like PIL's save(quality=q).
    import warnings

    quality = [80, 65, 58, 50, 40][severity - 1]
    images = list(x.clamp(0, 1).mul(255).round().byte().cpu())
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its image codecs in favour of TorchCodec; they still
        # wrap libjpeg and work. Switch when TorchCodec ships a batched still-image encoder.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        decoded = decode_jpeg(encode_jpeg(images, quality=quality))
    return torch.stack(decoded).to(x.device).float().div(255.0)
