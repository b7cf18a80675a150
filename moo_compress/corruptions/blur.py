"""Blur corruptions: defocus, glass, motion, zoom (standard) and gaussian (extra).

Motion blur deviates from the reference, which calls ImageMagick's ``MotionBlurImage``:
ImageMagick is not available here, so the same kernel (a one-sided line of
``2 * ceil(radius) + 1`` Gaussian-weighted taps at the drawn angle, edge pixels extended) is
applied directly with tensor shifts. Parameters: REFERENCE.md section 2.
"""

from __future__ import annotations

import numpy as np
import torch

from moo_compress.corruptions._filters import (
    clipped_zoom_matrix,
    conv_planes,
    disk_kernel,
    gaussian_filter,
    motion_blur_layer,
    pad2d,
    truncate_grey,
)
from moo_compress.corruptions.parameters import severity_values

__all__ = [
    "defocus_blur",
    "gaussian_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "zoom_factors",
]


def defocus_blur(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Correlation with an anti-aliased disk kernel (radius 0.3 to 1.5 for CIFAR-10-C), mirrored
    edges.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    radius, alias_blur = severity_values(parameters, "defocus_blur", severity)
    k = torch.from_numpy(disk_kernel(radius, alias_blur)).to(x.device, x.dtype)
    pad = k.shape[0] // 2
    n, c, h, w = x.shape
    # cv2.filter2D is a correlation with BORDER_REFLECT_101 ("mirror").
    planes = pad2d(x.reshape(n * c, 1, h, w), pad, pad, "mirror")
    return conv_planes(planes, k).reshape(n, c, h, w).clamp(0, 1)


def gaussian_blur(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Gaussian filter, sigma 0.4 to 1.0 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "gaussian_blur", severity)
    return gaussian_filter(x, c).clamp(0, 1)


def glass_blur(
    x: torch.Tensor,
    severity: int,
    gen: torch.Generator,
    *,
    parameters: str = "cifar",
    true_swap: bool = False,
) -> torch.Tensor:
    """Blur, locally shuffle pixels, blur again, as the published "-C" data was made.

    The reference's "swap" ``x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]``
    acts on NumPy views of an (H, W, 3) array: ``x[h, w]`` is first overwritten with
    ``x[h', w']``, and the second assignment then writes that same value back, so one pixel
    is copied and no two are swapped. The published CIFAR-10-C files carry this, and so do we
    by default. The offsets ``randint(-d, d)`` (so -d..d-1: only up and left) and the position
    order (both axes descending) are the reference's; with the CIFAR-10-C ``d = 1`` a position
    only ever copies from one that is visited later in the same pass, so each pass is a
    single gather from the image as it was before that pass. With larger offsets (the other
    sets) a row is copied at once, following the reference's order (see :func:`_copy_row`).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the pixel offsets.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).
        true_swap: Exchange the two pixels instead (what the reference's comment intends;
            not the published data), sequentially in the reference's order (default False).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    sigma, d, iterations = severity_values(parameters, "glass_blur", severity)
    n, c, h, w = x.shape
    # np.uint8(gaussian(x) * 255) truncates
    img = truncate_grey(gaussian_filter(x, sigma) * 255.0).permute(0, 2, 3, 1).contiguous()
    hs, ws = list(range(h - d, d, -1)), list(range(w - d, d, -1))
    offsets = torch.randint(-d, d, (iterations, len(hs), len(ws), 2, n), generator=gen)
    offsets = offsets.to(x.device)
    batch = torch.arange(n, device=x.device)
    if true_swap:
        for it in range(iterations):
            for a, hh in enumerate(hs):
                for b, ww in enumerate(ws):
                    dx, dy = offsets[it, a, b, 0], offsets[it, a, b, 1]
                    hp, wp = hh + dy, ww + dx
                    here = img[:, hh, ww].clone()
                    img[:, hh, ww] = img[batch, hp, wp]
                    if true_swap:
                        img[batch, hp, wp] = here
    elif d == 1 and hs and ws:
        # d == 1: offsets are -1 or 0, so every source is visited later in the pass (or is
        # the position itself) and still holds its value from before the pass.
        rows = torch.tensor(hs, device=x.device)
        cols = torch.tensor(ws, device=x.device)
        for it in range(iterations):
            # (n, len(hs), len(ws)) source coordinates of every visited position
            src_r = rows[None, :, None] + offsets[it, :, :, 1].permute(2, 0, 1)
            src_c = cols[None, None, :] + offsets[it, :, :, 0].permute(2, 0, 1)
            img[:, rows[:, None], cols[None, :]] = img[batch[:, None, None], src_r, src_c]
    elif hs and ws:  # d > 1 (Tiny-ImageNet-C, ImageNet-C): row by row
        for it in range(iterations):
            for a, hh in enumerate(hs):
                _copy_row(img, hh, ws, offsets[it, a], batch)
    img = img.permute(0, 3, 1, 2) / 255.0
    return gaussian_filter(img, sigma).clamp(0, 1)


def _copy_row(
    img: torch.Tensor, hh: int, ws: list[int], offsets: torch.Tensor, batch: torch.Tensor
) -> None:
    """One row of the reference's copying pass with offsets up to ``d > 1``, at once.

    Positions are visited row by row (descending), and in a row by descending column. A
    position copies from ``(hh + dy, w + dx)``: rows below were visited already (their new
    values), rows above not yet (their old ones), and so are the columns to its left in its
    own row; a column to its right in its own row (``dy = 0``, ``dx > 0``) was visited
    earlier in this row, so the position takes that one's new value. Those chains are
    followed by pointer doubling, so each row is a few gathers instead of a loop over its
    columns; the result is the sequential loop's, value for value
    (``tests/corruptions/test_parameter_sets.py``).

    Args:
        img: Images (N, H, W, C), changed in place.
        hh: The row.
        ws: The visited columns, descending.
        offsets: (len(ws), 2, N) offsets ``dx``, ``dy`` of the row's positions.
        batch: ``arange(N)``.
    """
    n, device = img.shape[0], img.device
    cols = torch.tensor(ws, device=device)
    dx, dy = offsets[:, 0].t(), offsets[:, 1].t()  # (N, L)
    vals = img[batch[:, None], hh + dy, cols[None, :] + dx]  # (N, L, C): the old values
    idx = torch.arange(len(ws), device=device).expand(n, -1)
    # column ws[b] + dx is ws[b - dx]: a position visited earlier in this row when b - dx >= 0
    chained = (dy == 0) & (dx > 0) & (idx - dx >= 0)
    ptr = torch.where(chained, idx - dx, idx)
    for _ in range(max(1, (len(ws) - 1).bit_length())):
        ptr = ptr.gather(1, ptr)
    img[:, hh, cols] = vals.gather(1, ptr[..., None].expand(-1, -1, vals.shape[2]))


def motion_blur(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """A one-sided Gaussian-weighted line kernel at a random angle in [-45, 45) degrees
    per image (ImageMagick's ``MotionBlurImage`` kernel).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    radius, sigma = severity_values(parameters, "motion_blur", severity)
    angle = torch.rand(x.shape[0], generator=gen, dtype=torch.float64) * 90.0 - 45.0
    return motion_blur_layer(x, radius, sigma, angle).clamp(0, 1)


#: Images per contraction in :func:`zoom_blur` (measured fastest on 2 CPU cores).
ZOOM_CHUNK = 8


def zoom_factors(severity: int, parameters: str = "cifar") -> np.ndarray:
    """The zoom factors :func:`zoom_blur` averages over, from 1 in steps of 0.01 (ImageNet-C:
    0.01 to 0.03).

    Args:
        severity: 1..5.
        parameters: The published set of parameters (default ``cifar``).
    """
    # np.arange exactly as the reference calls it (its float end point includes e.g. 1.06).
    end, step = severity_values(parameters, "zoom_blur", severity)
    return np.arange(1, end, step)


def zoom_blur(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Mean of the image and its centre zooms; every zoom is a fixed linear map per axis.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    zooms = zoom_factors(severity, parameters)
    h, w = x.shape[-2:]
    mh = np.stack([clipped_zoom_matrix(h, float(z)) for z in zooms])
    mw = np.stack([clipped_zoom_matrix(w, float(z)) for z in zooms])
    mh = torch.from_numpy(mh).to(x.device, x.dtype)
    mw = torch.from_numpy(mw).to(x.device, x.dtype)
    # A few images at a time: the contraction's (zooms x H x images x C x W) intermediate
    # then stays in the cache. Each output value is the same dot product whatever the
    # number of images (tests/corruptions/test_ops.py checks the chunked result is identical).
    zoomed = torch.empty_like(x)
    for i in range(0, x.shape[0], ZOOM_CHUNK):
        zoomed[i : i + ZOOM_CHUNK] = torch.einsum(
            "zhi,ncij,zwj->nchw", mh, x[i : i + ZOOM_CHUNK], mw
        )
    return ((x + zoomed) / (len(zooms) + 1)).clamp(0, 1)
