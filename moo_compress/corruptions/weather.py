"""Weather corruptions: snow, frost, fog, brightness (standard) and spatter (extra).

Deviations from the reference (``make_cifar_c.py``), documented in the README too:

- snow: the motion-blurred snow layer uses the line kernel of :mod:`.blur` instead of
  ImageMagick.
- spatter (water): the edge map follows ``cv2.Canny`` (Sobel, L1 magnitude, non-maximum
  suppression, hysteresis 50/150), the distance transform is the exact Euclidean one instead
  of OpenCV's 5x5 chamfer approximation, then the same truncation, equalisation and filters.

frost blends random crops of the reference's own frost photographs, read from the package
data of the ``imagecorruptions`` distribution (a dependency; its code is never imported).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from moo_compress.corruptions._filters import (
    box_blur3,
    clipped_zoom,
    conv_planes,
    filter2d,
    gaussian_filter,
    grey,
    motion_blur_layer,
    plasma_fractal,
    randn,
    truncate_grey,
)
from moo_compress.corruptions.parameters import PARAMETER_SETS, severity_values
from moo_compress.errors import DataError

__all__ = [
    "FROST_FILES",
    "FROST_SCALE",
    "brightness",
    "fog",
    "frost",
    "frost_dir",
    "frost_photos",
    "snow",
    "spatter",
]


def brightness(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """0.05 to 0.3 (CIFAR-10-C) added to the HSV value channel (hue and saturation kept).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    # Add c to the HSV value channel. For fixed hue and saturation RGB is linear in V, so
    # this equals the rgb2hsv -> +c -> hsv2rgb round trip without leaving RGB; black pixels
    # (V = 0, hence S = 0) become grey V'.
    c = severity_values(parameters, "brightness", severity)
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(0, 1)
    ratio = torch.where(v > 0, v_new / v.clamp_min(1e-12), torch.zeros_like(v))
    return torch.where(v > 0, x * ratio, v_new.expand_as(x)).clamp(0, 1)


def fog(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """A random plasma fractal added and the result rescaled to each image's maximum.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    strength, decay = severity_values(parameters, "fog", severity)
    n, _, h, w = x.shape
    max_val = x.reshape(n, -1).amax(dim=1).view(n, 1, 1, 1)
    # the set's map (32, 64, 256), or one large enough for the image, cropped
    side = max(h, w, PARAMETER_SETS[parameters].plasma_mapsize)
    plasma = plasma_fractal(n, side, decay, gen, x.device)[:, None, :h, :w]
    return ((x + strength * plasma) * max_val / (max_val + strength)).clamp(0, 1)


#: The photographs the CIFAR-10-C frost draws from: ``np.random.randint(5)`` picks one of the
#: first five (frost6.jpg is never used for CIFAR).
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
#: ``make_cifar_c.py`` shrinks each photograph with ``cv2.resize(frost, (0, 0), fx=0.2,
#: fy=0.2)`` (the other sets: ``ParameterSet.frost_scale``).
FROST_SCALE = 0.2


def frost_dir() -> Path:
    """The ``frost`` folder of the installed ``imagecorruptions`` distribution.

    Found with ``importlib.util.find_spec``, which locates the package without running its
    ``__init__`` (that imports ``pkg_resources``, gone from current setuptools).

    Raises:
        DataError: The distribution or one of its frost photographs is missing.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("imagecorruptions")
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / "frost"
        if all((candidate / name).is_file() for name in FROST_FILES):
            return candidate
    where = f" (looked in {', '.join(str(Path(f) / 'frost') for f in folders)})" if folders else ""
    raise DataError(
        "the frost corruption needs the frost photographs of the imagecorruptions package: "
        f"pip install imagecorruptions{where}"
    )


def _cv2_linear_resize(img: np.ndarray, scale: float) -> np.ndarray:
    """``cv2.resize(img, (0, 0), fx=scale, fy=scale)`` (INTER_LINEAR) of a uint8 (H, W, 3) image.

    Output size ``round(W * scale) x round(H * scale)``, source coordinate
    ``(dst + 0.5) / scale - 0.5`` clamped to the image, rounded to uint8. For the reference's
    0.2 every source coordinate is a whole pixel (``5 * dst + 2``), so this is exact; for other
    scales it agrees with OpenCV's fixed-point arithmetic up to its rounding.
    """

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_out = int(round(n_in * scale))
        src = (np.arange(n_out) + 0.5) / scale - 0.5
        src = np.clip(src, 0, n_in - 1)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    r0, r1, fr = axis(img.shape[0])
    c0, c1, fc = axis(img.shape[1])
    f = img.astype(np.float64)
    rows = f[r0] * (1 - fr)[:, None, None] + f[r1] * fr[:, None, None]
    out = rows[:, c0] * (1 - fc)[None, :, None] + rows[:, c1] * fc[None, :, None]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _raw_photos() -> tuple[np.ndarray, ...]:
    from PIL import Image

    folder = frost_dir()
    raw = []
    for name in FROST_FILES:
        with Image.open(folder / name) as im:
            raw.append(np.asarray(im.convert("RGB")))
    return tuple(raw)


@functools.lru_cache(maxsize=8)
def frost_photos(
    min_h: int = 1, min_w: int = 1, scale: float = FROST_SCALE
) -> tuple[torch.Tensor, ...]:
    """The frost photographs as uint8 tensors (3, H, W), RGB, shrunk as the reference does.

    ``cv2.imread`` gives 3-channel BGR (a PNG's alpha dropped), the reference resizes by
    ``scale`` (CIFAR-10-C 0.2, Tiny-ImageNet-C 0.3, ImageNet-C not at all) and crops, then
    reverses to RGB: Pillow's ``convert("RGB")`` decodes the same pixels. Images that do not
    fit a crop of every shrunk photograph (at 0.2 those with more than 62 rows: the smallest
    shrunk photograph is 63 x 112) get photographs shrunk less instead (by the smallest
    factor at which every photograph is larger than the image).

    Args:
        min_h: Rows each shrunk photograph must exceed (default 1).
        min_w: Columns each shrunk photograph must exceed (default 1).
        scale: The set's factor (default the CIFAR-10-C 0.2).

    Raises:
        DataError: The frost photographs are missing (see :func:`frost_dir`).
    """
    raw = _raw_photos()
    for img in raw:
        for size, need in ((img.shape[0], min_h), (img.shape[1], min_w)):
            if int(round(size * scale)) <= need:
                scale = max(scale, (need + 1) / size)
    photos = []
    for img in raw:
        small = img if scale == 1 else _cv2_linear_resize(img, scale)
        photos.append(torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1))))
    return tuple(photos)


def frost(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """``clip(a * x + b * crop, 0, 255)`` with a random crop of a random frost photograph.

    Per image, as the reference: the photograph ``randint(5)``, the crop's top-left corner
    ``randint(0, H_photo - h)``, ``randint(0, W_photo - w)``. The blend is the reference's
    float64 arithmetic on the 0..255 scale (inputs within 1e-4 of a whole grey level are taken
    as that level, as they are uint8 there), truncated to whole grey levels as its
    ``np.uint8`` does; the result is returned as exact ``k / 255``.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].

    Raises:
        DataError: The frost photographs are missing (see :func:`frost_dir`).
    """
    image_w, frost_w = severity_values(parameters, "frost", severity)
    n, _, h, w = x.shape
    scale = PARAMETER_SETS[parameters].frost_scale
    photos = frost_photos(*_fit(h, w, scale), scale)
    idx = torch.randint(0, len(photos), (n,), generator=gen)
    u = torch.rand((n, 2), generator=gen, dtype=torch.float64)
    # int(u * (size - h)) for all images at once (the same float64 products, truncated)
    room = torch.tensor([[p.shape[1] - h, p.shape[2] - w] for p in photos], dtype=torch.float64)
    corner = (u * room[idx]).long().tolist()
    crops = [
        photos[k][:, top : top + h, left : left + w]
        for k, (top, left) in zip(idx.tolist(), corner, strict=True)
    ]
    layer = torch.stack(crops).double()
    # float64 on the CPU, like the reference; laid out like the layer (faster element-wise)
    grey = x.detach().cpu().double().contiguous() * 255.0
    whole = torch.round(grey)
    grey = torch.where((grey - whole).abs() < 1e-4, whole, grey)
    out = torch.floor((image_w * grey + frost_w * layer).clamp(0, 255))
    return (out / 255.0).to(x.device, x.dtype)


def _fit(h: int, w: int, scale: float) -> tuple[int, int]:
    """The size the photographs must exceed: (1, 1), one cache entry, for every image that
    fits a crop at the set's own scale (at 0.2 all up to 62 x 62)."""
    fits = all(
        int(round(p.shape[0] * scale)) > h and int(round(p.shape[1] * scale)) > w
        for p in _raw_photos()
    )
    return (1, 1) if fits else (h, w)


def snow(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """A random, thresholded, motion-blurred snow layer (and its flip) over the image,
    which is first brightened towards its grey level.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    loc, scale, zoom, threshold, radius, sigma, blend = severity_values(
        parameters, "snow", severity
    )
    n, _, h, w = x.shape
    layer = clipped_zoom(randn((n, 1, h, w), gen, x.device, loc=loc, scale=scale), zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = truncate_grey(layer.clamp(0, 1) * 255.0)  # the reference's uint8 PNG
    angle = torch.rand(n, generator=gen, dtype=torch.float64) * 90.0 - 135.0
    # ImageMagick's 8-bit motion-blurred PNG is truncated, not rounded (6.9.11, measured with
    # fixed angles on digits: truncation gives 99.8 % of its values, rounding 59 %)
    layer = truncate_grey(motion_blur_layer(layer, radius, sigma, angle)) / 255.0
    x = blend * x + (1 - blend) * torch.maximum(x, grey(x) * 1.5 + 0.5)
    return (x + layer + torch.flip(layer, dims=(2, 3))).clamp(0, 1)


# -- spatter ------------------------------------------------------------------------------
def _canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Edges of (N, 1, H, W) images in 0..255 like ``cv2.Canny(img, low, high)`` (aperture 3)."""
    sx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=img.dtype, device=img.device)
    padded = F.pad(img, (1, 1, 1, 1), mode="replicate")
    gx = conv_planes(padded, sx)
    gy = conv_planes(padded, sx.t().contiguous())
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
        grown = weak & _dilate3(edges)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def _dilate3(mask: torch.Tensor) -> torch.Tensor:
    """3 x 3 binary dilation of boolean (..., H, W) masks (nothing beyond the border)."""
    rows = mask.clone()
    rows[..., 1:, :] |= mask[..., :-1, :]
    rows[..., :-1, :] |= mask[..., 1:, :]
    out = rows.clone()
    out[..., :, 1:] |= rows[..., :, :-1]
    out[..., :, :-1] |= rows[..., :, 1:]
    return out


def _distance_to(edges: torch.Tensor, cap: float) -> torch.Tensor:
    """Exact Euclidean distance of every pixel to the nearest edge pixel, capped at ``cap``.

    Separable, in integers: the vertical distance to the nearest edge of each column (from
    cumulative maxima and minima of edge rows), then the minimum over horizontal offsets
    ``o`` of ``dv^2 + o^2``. Offsets beyond ``cap`` cannot give a distance below it, and
    the offsets stop once ``o^2`` exceeds every distance found so far.
    """
    n, _, h, w = edges.shape
    e = edges[:, 0]
    reach = int(math.ceil(cap))
    far = (reach + 1) ** 2  # stands for every distance >= cap (its root is clamped to cap)
    dtype = torch.int16 if 2 * far < 2**15 else torch.int32
    rows = torch.arange(h, device=e.device, dtype=torch.int32)[None, :, None]
    above = torch.where(e, rows, torch.full_like(rows, -(h + reach + 1))).cummax(dim=1).values
    below = torch.where(e, rows, torch.full_like(rows, 2 * h + reach + 1))
    below = below.flip(1).cummin(dim=1).values.flip(1)
    dv = torch.minimum(rows - above, below - rows).clamp_(max=reach + 1)
    g = (dv * dv).to(dtype)  # squared vertical distance (n, h, w)
    d2 = g.clone()
    tmp = torch.empty_like(g)
    for o in range(1, min(reach, w - 1) + 1):
        if o % 4 == 1 and o * o >= int(d2.max()):
            break
        torch.add(g[..., :-o], o * o, out=tmp[..., :-o])  # the edge o columns to the left
        torch.minimum(d2[..., o:], tmp[..., :-o], out=d2[..., o:])
        torch.add(g[..., o:], o * o, out=tmp[..., o:])  # and to the right
        torch.minimum(d2[..., :-o], tmp[..., o:], out=d2[..., :-o])
    return d2.float().sqrt().clamp(max=cap)[:, None]


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


def spatter(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Water drops (severities 1-3: a shaded pale-blue liquid layer) or mud (4-5: brown
    blotches) from a smoothed random field.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    loc, scale, sigma, threshold, intensity, mud = severity_values(parameters, "spatter", severity)
    n, _, h, w = x.shape
    liquid = gaussian_filter(randn((n, 1, h, w), gen, x.device, loc=loc, scale=scale), sigma)
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if not mud:
        liquid_u8 = truncate_grey(liquid.clamp(0, 1) * 255.0)
        dist = _distance_to(_canny(liquid_u8, 50, 150), 20.0)
        dist = truncate_grey(box_blur3(dist))
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
