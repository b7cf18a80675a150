"""Weather corruptions: snow, frost, fog, brightness (standard) and spatter (extra).

Deviations from the reference (``make_cifar_c.py``), documented in the README too:

- frost: the reference blends random crops of six frost photographs, which cannot be
  fetched here. A procedural ice texture is used instead (:func:`frost_texture`): a
  diamond-square haze plus sharp ridged "crystal" veins, pale blue-white, with the mean
  brightness of the reference's crops; it is blended with the same weights.
- snow: the motion-blurred snow layer uses the line kernel of :mod:`.blur` instead of
  ImageMagick.
- spatter (water): the edge map follows ``cv2.Canny`` (Sobel, L1 magnitude, non-maximum
  suppression, hysteresis 50/150), the distance transform is the exact Euclidean one instead
  of OpenCV's 5x5 chamfer approximation, then the same truncation, equalisation and filters.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from moo_compress.corruptions._filters import (
    box_blur3,
    clipped_zoom,
    filter2d,
    gaussian_filter,
    grey,
    motion_blur_layer,
    plasma_fractal,
    randn,
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


def fog(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    strength, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    n, _, h, w = x.shape
    max_val = x.reshape(n, -1).amax(dim=1).view(n, 1, 1, 1)
    plasma = plasma_fractal(n, max(h, w), decay, gen, x.device)[:, None, :h, :w]
    return ((x + strength * plasma) * max_val / (max_val + strength)).clamp(0, 1)


def frost_texture(n: int, h: int, w: int, gen: torch.Generator, device) -> torch.Tensor:
    """Procedural frost, (n, 3, h, w) in [0, 1]: soft haze + ridged crystal veins, blue-white."""
    size = max(h, w)
    haze = plasma_fractal(n, size, 2.0, gen, device)[:, None, :h, :w]
    ridges = []
    for _ in range(2):
        p = plasma_fractal(n, size, 1.4, gen, device)[:, None, :h, :w]
        ridges.append((1.0 - (2.0 * p - 1.0).abs()) ** 8)
    veins = torch.maximum(ridges[0], ridges[1])
    t = (0.35 * haze + 0.75 * veins).clamp(0, 1)
    # the reference's crops average about 0.45-0.5 of full scale; bring each texture there
    t = (t * (0.47 / t.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3))).clamp(0, 1)
    tint = torch.tensor([0.86, 0.94, 1.0], device=device).view(1, 3, 1, 1)
    return (t * tint).clamp(0, 1)


def frost(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    image_w, frost_w = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    n, _, h, w = x.shape
    return (image_w * x + frost_w * frost_texture(n, h, w, gen, x.device)).clamp(0, 1)


def snow(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    loc, scale, zoom, threshold, radius, sigma, blend = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ][severity - 1]
    n, _, h, w = x.shape
    layer = clipped_zoom(randn((n, 1, h, w), gen, x.device, loc=loc, scale=scale), zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255.0)  # the reference's uint8 PNG
    angle = torch.rand(n, generator=gen, dtype=torch.float64) * 90.0 - 135.0
    layer = torch.round(motion_blur_layer(layer, radius, sigma, angle)) / 255.0
    x = blend * x + (1 - blend) * torch.maximum(x, grey(x) * 1.5 + 0.5)
    return (x + layer + torch.flip(layer, dims=(2, 3))).clamp(0, 1)


# -- spatter ------------------------------------------------------------------------------
def _canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Edges of (N, 1, H, W) images in 0..255 like ``cv2.Canny(img, low, high)`` (aperture 3)."""
    sx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=img.dtype, device=img.device)
    padded = F.pad(img, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sx[None, None])
    gy = F.conv2d(padded, sx.t().contiguous()[None, None])
    mag = gx.abs() + gy.abs()
    m = F.pad(mag, (1, 1, 1, 1))  # zero outside, as OpenCV's magnitude buffer

    def at(di: int, dj: int) -> torch.Tensor:
        h, w = mag.shape[-2:]
        return m[..., 1 + di : 1 + di + h, 1 + dj : 1 + dj + w]

    ax, ay = gx.abs(), gy.abs()
    tg22 = np.tan(np.deg2rad(22.5))
    tg67 = np.tan(np.deg2rad(67.5))
    horizontal = ay < ax * tg22
    vertical = ay > ax * tg67
    same_sign = (gx * gy) > 0
    keep_h = (mag > at(0, -1)) & (mag >= at(0, 1))
    keep_v = (mag > at(-1, 0)) & (mag >= at(1, 0))
    keep_d1 = (mag > at(-1, -1)) & (mag >= at(1, 1))
    keep_d2 = (mag > at(-1, 1)) & (mag >= at(1, -1))
    keep_d = torch.where(same_sign, keep_d1, keep_d2)
    keep = torch.where(horizontal, keep_h, torch.where(vertical, keep_v, keep_d))
    weak = keep & (mag > low)
    edges = weak & (mag > high)
    while True:  # hysteresis: grow strong edges through 8-connected weak ones
        grown = weak & (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def _distance_to(edges: torch.Tensor, cap: float) -> torch.Tensor:
    """Exact Euclidean distance of every pixel to the nearest edge pixel, capped at ``cap``."""
    n, _, h, w = edges.shape
    e = edges[:, 0]
    big = float(h * h + w * w + cap * cap)
    rows = torch.arange(h, device=e.device, dtype=torch.float32)
    # column pass: squared vertical distance to the nearest edge in the same column
    dv = (rows[:, None] - rows[None, :]) ** 2  # (i, k)
    g = torch.where(
        e[:, None, :, :], dv[None, :, :, None], torch.full_like(dv[None, :, :, None], big)
    )
    g = g.amin(dim=2)  # (n, h, w)
    cols = torch.arange(w, device=e.device, dtype=torch.float32)
    dh = (cols[:, None] - cols[None, :]) ** 2  # (x, j)
    d2 = (g[:, :, None, :] + dh[None, None, :, :]).amin(dim=3)
    return d2.sqrt().clamp(max=cap)[:, None]


def _equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` on uint8-valued (N, 1, H, W) images."""
    n = img.shape[0]
    flat = img.reshape(n, -1).long()
    hist = torch.zeros(n, 256, dtype=torch.long, device=img.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    cdf = hist.cumsum(dim=1)
    first = hist.gt(0).float().argmax(dim=1, keepdim=True)
    first_count = hist.gather(1, first)
    total = flat.shape[1]
    denom = (total - first_count).clamp_min(1).double()
    lut = torch.round((cdf - first_count).double() * 255.0 / denom).clamp(0, 255)
    lut = torch.where(
        (total - first_count) == 0, torch.arange(256, device=img.device)[None].double(), lut
    )
    return lut.gather(1, flat).reshape(img.shape).to(img.dtype)


def spatter(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    loc, scale, sigma, threshold, intensity, mud = [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ][severity - 1]
    n, _, h, w = x.shape
    liquid = gaussian_filter(randn((n, 1, h, w), gen, x.device, loc=loc, scale=scale), sigma)
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if not mud:
        liquid_u8 = torch.floor(liquid.clamp(0, 1) * 255.0)
        dist = _distance_to(_canny(liquid_u8, 50, 150), 20.0)
        dist = torch.floor(box_blur3(dist))
        dist = _equalize_hist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
        dist = torch.round(filter2d(dist, ker)).clamp(0, 255)
        dist = torch.round(box_blur3(dist))
        m = liquid_u8 * dist
        peak = m.reshape(n, -1).amax(dim=1).view(n, 1, 1, 1)
        m = torch.where(peak > 0, m / peak.clamp_min(1e-12), torch.zeros_like(m)) * intensity
        colour = torch.tensor([175, 238, 238], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x + m * colour / 255.0).clamp(0, 1)
    m = (liquid > threshold).float()
    m = gaussian_filter(m, intensity)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    colour = torch.tensor([63, 42, 20], device=x.device, dtype=x.dtype).view(1, 3, 1, 1) / 255.0
    return (x * (1 - m) + colour * m).clamp(0, 1)
