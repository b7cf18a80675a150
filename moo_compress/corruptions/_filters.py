"""Batched building blocks of the corruptions: filters, padding, resampling, noise fields.

Everything works on float tensors (N, C, H, W) on any device. Random numbers are drawn from a
CPU ``torch.Generator`` (so a seed gives the same output on every device) and then moved.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "TRUNCATION_SLACK",
    "box_blur3",
    "box_resize",
    "clipped_zoom",
    "clipped_zoom_matrix",
    "conv_planes",
    "disk_kernel",
    "filter2d",
    "gaussian_filter",
    "gaussian_kernel1d",
    "grey",
    "hsv_value_saturation",
    "motion_blur_layer",
    "pad2d",
    "pil_box_matrix",
    "pil_box_resize_uint8",
    "plasma_fractal",
    "rand",
    "randn",
    "separable_filter",
    "shift_gather",
    "truncate_grey",
]


def rand(shape, gen: torch.Generator, device, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Uniform in [low, high), drawn on CPU.

    Args:
        shape: The tensor's shape.
        gen: CPU generator to draw from.
        device: Where the result goes.
        low: Lower bound (default 0).
        high: Upper bound (default 1).
    """
    u = torch.rand(tuple(shape), generator=gen)
    if (low, high) != (0.0, 1.0):  # u * 1 + 0 is u itself
        u = u * (high - low) + low
    return u.to(device)


def randn(
    shape, gen: torch.Generator, device, loc: float = 0.0, scale: float = 1.0
) -> torch.Tensor:
    """Normal with mean ``loc`` and standard deviation ``scale``, drawn on CPU.

    Args:
        shape: The tensor's shape.
        gen: CPU generator to draw from.
        device: Where the result goes.
        loc: Mean (default 0).
        scale: Standard deviation (default 1).
    """
    return (torch.randn(tuple(shape), generator=gen) * scale + loc).to(device)


#: Allowance, in grey levels, for the float32 error of our arithmetic wherever the reference
#: truncates to uint8 (``np.uint8(x * 255)``, ``.astype(np.uint8)``): a value the reference
#: computes as exactly 40.0 may come out here as 39.99998. Chosen on the digits images: it
#: maximises the share of values equal to the reference's for the deterministic corruptions.
TRUNCATION_SLACK = 3e-5


def truncate_grey(v: torch.Tensor) -> torch.Tensor:
    """Values on the 0..255 scale truncated to whole grey levels, as ``np.uint8`` does.

    :data:`TRUNCATION_SLACK` is added first, for the float32 error of our arithmetic.

    Args:
        v: Non-negative values on the 0..255 scale.
    """
    return torch.floor(v + TRUNCATION_SLACK)


# -- padding ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of every position of a padded axis.

    Modes follow SciPy/OpenCV names: ``nearest`` (edge, cv2 BORDER_REPLICATE), ``reflect``
    (half-sample symmetric, d c b a | a b c d, SciPy's "reflect") and ``mirror``
    (whole-sample, d c b | a b c d, cv2 BORDER_REFLECT_101). Works for pads larger than ``n``.
    """
    i = np.arange(-before, n + after)
    if n == 1 or mode == "nearest":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":
        j = np.mod(i, 2 * n)
        return np.where(j >= n, 2 * n - 1 - j, j)
    if mode == "mirror":
        j = np.mod(i, 2 * n - 2)
        return np.where(j >= n, 2 * n - 2 - j, j)
    raise ValueError(f"unknown padding mode {mode!r}")


@functools.lru_cache(maxsize=512)
def _index_runs(index: tuple[int, ...]) -> tuple[tuple[int, int, bool], ...]:
    """An index array as runs of consecutive positions, ``(start, length, reversed)``.

    Padding and resampling indices are a few slices of the axis (the axis itself, its
    mirrored or repeated edges), so taking them is assembling views, not an element-wise
    gather (which is slow along the last axis).
    """
    runs: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(index):
        j = i + 1
        step = index[j] - index[i] if j < len(index) else 1
        if step not in (1, -1):
            step = 1
        while j < len(index) and index[j] - index[j - 1] == step:
            j += 1
        lo = min(index[i], index[j - 1])
        runs.append((lo, j - i, step == -1 and j - i > 1))
        i = j
    return tuple(runs)


def _take(x: torch.Tensor, dim: int, index: tuple[int, ...]) -> torch.Tensor:
    """``x.index_select(dim, index)`` assembled from slices (see :func:`_index_runs`)."""
    pieces = []
    for start, length, backwards in _index_runs(index):
        piece = x.narrow(dim, start, length)
        pieces.append(piece.flip(dim) if backwards else piece)
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=dim)


def _pad_axis(x: torch.Tensor, dim: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Pad one axis of ``x`` (see :func:`pad2d`) by concatenating slices of it."""
    if before == 0 and after == 0:
        return x
    index = tuple(int(i) for i in _pad_index(x.shape[dim], before, after, mode))
    return _take(x, dim, index)


def pad2d(x: torch.Tensor, ph: int, pw: int, mode: str) -> torch.Tensor:
    """Pad the last two axes by ``ph`` rows and ``pw`` columns on each side.

    The padded tensor is assembled from slices (copies only: the same values as indexing
    with :func:`_pad_index`, at a fraction of the cost of a gather along the last axis).

    Args:
        x: A tensor whose last two axes are (H, W).
        ph: Rows to add above and below.
        pw: Columns to add left and right.
        mode: ``nearest`` (edge), ``reflect`` (half-sample symmetric, SciPy) or ``mirror``
            (whole-sample, cv2 BORDER_REFLECT_101); pads may exceed the axis.

    Raises:
        ValueError: An unknown ``mode``.
    """
    out = _pad_axis(_pad_axis(x, x.dim() - 1, pw, pw, mode), x.dim() - 2, ph, ph, mode)
    return out.contiguous()


# -- linear filters -----------------------------------------------------------------------
def conv_planes(planes: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(planes, kernel[None, None])``: correlate every single-channel plane.

    On the CPU the planes are passed as the channels of one image to a depthwise (grouped)
    convolution: oneDNN then uses its depthwise kernel, 10-30x faster on these small planes
    than its direct kernel for one channel (which pads the channel to 16), with the same
    arithmetic (``tests/corruptions/test_filters.py`` checks the outputs are identical).

    Args:
        planes: (P, 1, H, W) planes.
        kernel: A 2-D (kh, kw) kernel, same dtype and device.

    Returns:
        (P, 1, H - kh + 1, W - kw + 1), the valid part of the correlation.
    """
    p, _, h, w = planes.shape
    if planes.device.type != "cpu" or p == 1:
        return F.conv2d(planes, kernel[None, None])
    weight = kernel[None, None].expand(p, 1, *kernel.shape)
    out = F.conv2d(planes.reshape(1, p, h, w), weight, groups=p)
    return out.reshape(p, 1, *out.shape[2:])


@functools.lru_cache(maxsize=64)
def gaussian_kernel1d(sigma: float, truncate: float) -> np.ndarray:
    """SciPy's ``gaussian_filter`` kernel: radius ``int(truncate * sigma + 0.5)``.

    Args:
        sigma: Standard deviation, in pixels.
        truncate: Radius in standard deviations.

    Returns:
        The normalised float32 kernel.
    """
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * t**2 / sigma**2)
    return (k / k.sum()).astype(np.float32)


def separable_filter(x: torch.Tensor, kernel: np.ndarray, mode: str) -> torch.Tensor:
    """Correlate every (N, C) plane with ``kernel`` along both spatial axes.

    Args:
        x: Images (N, C, H, W).
        kernel: An odd-length 1-D kernel.
        mode: Padding mode of :func:`pad2d`.
    """
    k = torch.from_numpy(np.ascontiguousarray(kernel)).to(x.device, x.dtype)
    r = (len(kernel) - 1) // 2
    n, c, h, w = x.shape
    planes = pad2d(x.reshape(n * c, 1, h, w), r, r, mode)
    planes = conv_planes(planes, k.view(1, -1))
    planes = conv_planes(planes, k.view(-1, 1))
    return planes.reshape(n, c, h, w)


def gaussian_filter(
    x: torch.Tensor, sigma: float, *, mode: str = "nearest", truncate: float = 4.0
) -> torch.Tensor:
    """``skimage.filters.gaussian`` on each channel (its defaults: mode nearest, truncate 4).

    Args:
        x: Images (N, C, H, W).
        sigma: Standard deviation, in pixels (at most 1e-15 returns ``x`` itself).
        mode: Padding mode of :func:`pad2d` (default ``"nearest"``).
        truncate: Kernel radius in standard deviations (default 4.0).
    """
    if sigma <= 1e-15:  # SciPy skips axes with zero sigma
        return x
    return separable_filter(x, gaussian_kernel1d(float(sigma), float(truncate)), mode)


def box_blur3(x: torch.Tensor) -> torch.Tensor:
    """``cv2.blur(x, (3, 3))``: 3x3 mean with BORDER_REFLECT_101.

    Args:
        x: Images (N, C, H, W).
    """
    return separable_filter(x, np.full(3, 1.0 / 3.0, dtype=np.float32), "mirror")


def filter2d(x: torch.Tensor, kernel: np.ndarray, mode: str = "mirror") -> torch.Tensor:
    """``cv2.filter2D``: correlation of every (N, C) plane with a 2-D kernel.

    Args:
        x: Images (N, C, H, W).
        kernel: A square kernel of odd size.
        mode: Padding mode of :func:`pad2d` (default ``"mirror"``, cv2's default border).
    """
    k = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)).to(x.device, x.dtype)
    r = k.shape[0] // 2
    n, c, h, w = x.shape
    planes = pad2d(x.reshape(n * c, 1, h, w), r, r, mode)
    return conv_planes(planes, k).reshape(n, c, h, w)


@functools.lru_cache(maxsize=16)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's aliased disk, normalised, then ``cv2.GaussianBlur`` (3x3 for radius <= 8).

    Args:
        radius: Disk radius, in pixels.
        alias_blur: Standard deviation of the anti-aliasing blur.

    Returns:
        The float32 kernel, its all-zero border cropped.
    """
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
    # Crop the all-zero border (the reference's 17x17 support is mostly empty): same result,
    # a fraction of the convolution cost.
    nz = np.argwhere(out != 0)
    r = int(np.abs(nz - out.shape[0] // 2).max()) if len(nz) else 0
    c = out.shape[0] // 2
    return out[c - r : c + r + 1, c - r : c + r + 1].astype(np.float32)


# -- resampling ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _pil_box_matrix64(in_size: int, out_size: int) -> np.ndarray:
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
    mat.flags.writeable = False
    return mat


def pil_box_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The resampling matrix of PIL's ``Image.resize(..., Image.BOX)`` along one axis.

    Args:
        in_size: Input length.
        out_size: Output length.

    Returns:
        A float32 (out_size, in_size) matrix with rows summing to 1.
    """
    return _pil_box_matrix64(in_size, out_size).astype(np.float32)


#: Pillow's fixed-point precision for 8-bit resampling (``PRECISION_BITS`` in Resample.c).
_PIL_PRECISION_BITS = 32 - 8 - 2


@functools.lru_cache(maxsize=64)
def _pil_box_fixed(in_size: int, out_size: int) -> np.ndarray:
    """PIL's 8-bit coefficients: ``(int)(0.5 + k * 2**22)`` of the normalised BOX weights."""
    k = _pil_box_matrix64(in_size, out_size)
    fixed = np.trunc(0.5 + k * float(1 << _PIL_PRECISION_BITS))
    fixed.flags.writeable = False
    return fixed


@functools.lru_cache(maxsize=64)
def _pil_box_terms(in_size: int, out_size: int) -> tuple[tuple[tuple[int, ...], np.ndarray], ...]:
    """:func:`_pil_box_fixed` as a few (input index per output, coefficient per output) terms.

    Term ``k`` holds the ``k``-th nonzero coefficient of every output (zero where a row has
    fewer), so the resampling is the sum of ``K`` products instead of a dense product.
    """
    fixed = _pil_box_fixed(in_size, out_size)
    width = int((fixed != 0).sum(axis=1).max())
    terms = []
    for k in range(width):
        index, coef = [], []
        for row in fixed:
            nz = np.flatnonzero(row)
            index.append(int(nz[min(k, len(nz) - 1)]))
            coef.append(row[nz[k]] if k < len(nz) else 0.0)
        terms.append((tuple(index), np.array(coef, dtype=np.float64)))
    return tuple(terms)


def _pil_box_pass(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """One fixed-point BOX pass of Pillow along ``dim`` (-1 or -2) of float64 whole numbers."""
    scale = 1.0 / float(1 << _PIL_PRECISION_BITS)  # a power of two: exact
    half = float(1 << (_PIL_PRECISION_BITS - 1))
    out = None
    for index, coef in _pil_box_terms(x.shape[dim], size):
        c = torch.from_numpy(coef).to(x.device)
        term = _take(x, dim, index) * (c if dim == -1 else c[:, None])
        out = term if out is None else out.add_(term)
    return out.add_(half).mul_(scale).floor_().clamp_(0, 255)


def pil_box_resize_uint8(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL's ``Image.resize((w, h), Image.BOX)`` of uint8-valued (N, C, H, W) float tensors.

    As Pillow's Resample.c: a horizontal pass, then a vertical one, each with fixed-point
    coefficients, ``(2**21 + sum(pixel * coefficient)) >> 22`` and a clip to 0..255, so the
    intermediate image is uint8 too. Computed in float64, where these integer sums are exact
    in any order, as the few nonzero products of each output (a BOX output reads 1-3 inputs).
    Returns float64 whole numbers in 0..255.

    Args:
        x: Images (N, C, H, W) holding whole numbers in 0..255.
        h: Output rows.
        w: Output columns.
    """
    out = x.double()
    if w != out.shape[3]:
        out = _pil_box_pass(out, -1, w)
    if h != out.shape[2]:
        out = _pil_box_pass(out, -2, h)
    return out


def box_resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL's BOX resampling of float images, without its 8-bit rounding.

    Args:
        x: Images (N, C, H, W).
        h: Output rows.
        w: Output columns.
    """
    mh = torch.from_numpy(pil_box_matrix(x.shape[2], h)).to(x.device, x.dtype)
    mw = torch.from_numpy(pil_box_matrix(x.shape[3], w)).to(x.device, x.dtype)
    return torch.einsum("hi,ncij,wj->nchw", mh, x, mw)


@functools.lru_cache(maxsize=512)
def clipped_zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """The reference's ``clipped_zoom`` along one axis as an (n x n) matrix.

    Centre crop of ``ceil(n / zoom)`` pixels, ``scipy.ndimage.zoom(order=1)`` (output size
    ``round(crop * zoom)``, corner-aligned linear interpolation), centre trim back to ``n``.

    Args:
        n: Axis length.
        zoom: Zoom factor (>= 1).

    Returns:
        A float32 (n, n) matrix: output position x input position.
    """
    ch = int(np.ceil(n / zoom))
    top = (n - ch) // 2
    out = int(round(ch * zoom))
    trim = (out - n) // 2
    mat = np.zeros((n, n), dtype=np.float64)
    step = (ch - 1) / (out - 1) if out > 1 else 0.0
    for r in range(n):
        src = (r + trim) * step
        i0 = min(int(np.floor(src)), ch - 1)
        f = src - i0
        mat[r, top + i0] += 1.0 - f
        if f > 0:
            mat[r, top + min(i0 + 1, ch - 1)] += f
    return mat.astype(np.float32)


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """The reference's ``clipped_zoom`` (centre zoom, same size) on the last two axes.

    Args:
        x: A tensor whose last two axes are (H, W).
        zoom: Zoom factor (>= 1).
    """
    mh = torch.from_numpy(clipped_zoom_matrix(x.shape[-2], float(zoom))).to(x.device, x.dtype)
    mw = torch.from_numpy(clipped_zoom_matrix(x.shape[-1], float(zoom))).to(x.device, x.dtype)
    return torch.einsum("hi,...ij,wj->...hw", mh, x, mw)


def _shift_planes(
    planes: torch.Tensor, h: int, w: int, dy: torch.Tensor, dx: torch.Tensor
) -> torch.Tensor:
    """:func:`shift_gather` of images given as contiguous (N, C, H * W) planes."""
    n, c, _ = planes.shape
    rows = (torch.arange(h, device=planes.device)[None, :] + dy[:, None]).clamp(0, h - 1)
    cols = (torch.arange(w, device=planes.device)[None, :] + dx[:, None]).clamp(0, w - 1)
    flat = (rows[:, :, None] * w + cols[:, None, :]).reshape(n, 1, h * w)
    # one gather along the flattened plane: a few times faster than indexing (N, H, W)
    return torch.gather(planes, 2, flat.expand(n, c, h * w)).reshape(n, c, h, w)


def shift_gather(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Per-image integer shift with edge replication: out[n, :, i, j] = x[n, :, i+dy[n], j+dx[n]].

    Args:
        x: Images (N, C, H, W).
        dy: Row shift per image (N,), integer.
        dx: Column shift per image (N,), integer.

    Returns:
        The shifted images, (N, C, H, W), contiguous.
    """
    n, c, h, w = x.shape
    return _shift_planes(x.contiguous().reshape(n, c, h * w), h, w, dy, dx)


def motion_blur_layer(
    x: torch.Tensor, radius: float, sigma: float, angle_deg: torch.Tensor
) -> torch.Tensor:
    """ImageMagick's ``MotionBlurImage`` as a rotated one-sided line kernel, one angle per image.

    As in MagickCore: ``width = 2 * ceil(radius) + 1`` taps with Gaussian weights
    ``exp(-i^2 / (2 sigma^2))`` (normalised), tap ``i`` sampling the pixel at
    ``(round(i * sin a), round(i * cos a))``; edge pixels extend the image.

    Args:
        x: Images (N, C, H, W).
        radius: Kernel radius, in pixels.
        sigma: Standard deviation of the tap weights.
        angle_deg: Blur angle per image (N,), in degrees.

    Returns:
        The blurred images, (N, C, H, W), contiguous.
    """
    width = int(2 * math.ceil(radius) + 1)
    taps = np.exp(-(np.arange(width) ** 2) / (2.0 * sigma * sigma))
    taps = taps / taps.sum()
    a = torch.deg2rad(angle_deg.double())
    n, c, h, w = x.shape
    planes = x.contiguous().reshape(n, c, h * w)
    out = torch.zeros((n, c, h, w), dtype=x.dtype, device=x.device)
    for i, wgt in enumerate(taps):
        # ceil(v - 0.5) rounds half down, as in MagickCore
        dx = torch.ceil(i * torch.cos(a) - 0.5).long().to(x.device)
        dy = torch.ceil(i * torch.sin(a) - 0.5).long().to(x.device)
        out += float(wgt) * _shift_planes(planes, h, w, dy, dx)
    return out


# -- noise fields -------------------------------------------------------------------------
def plasma_fractal(
    n: int, size: int, wibble_decay: float, gen: torch.Generator, device
) -> torch.Tensor:
    """The reference's diamond-square height map for ``n`` images at once, in [0, 1].

    ``size`` is rounded up to a power of two (32 for CIFAR, as in the reference); the caller
    crops. Returns (n, size, size).

    Args:
        n: Number of height maps.
        size: Their minimum side (rounded up to a power of two, at least 2).
        wibble_decay: Factor the noise amplitude is divided by at each finer scale.
        gen: CPU generator to draw from.
        device: Where the result goes.
    """
    m = 1 << max(1, int(math.ceil(math.log2(size))))
    arr = torch.zeros(n, m, m, dtype=torch.float64)
    step, wibble = m, 100.0

    def wibbled_mean(a: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(a.shape, generator=gen, dtype=torch.float64) * (2 * wibble) - wibble
        return a / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corner = arr[:, 0:m:step, 0:m:step]
        sq = corner + torch.roll(corner, -1, dims=1)
        sq = sq + torch.roll(sq, -1, dims=2)
        arr[:, half:m:step, half:m:step] = wibbled_mean(sq)
        dr = arr[:, half:m:step, half:m:step]
        ul = arr[:, 0:m:step, 0:m:step]
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        arr[:, 0:m:step, half:m:step] = wibbled_mean(lt)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        arr[:, half:m:step, 0:m:step] = wibbled_mean(tt)
        step //= 2
        wibble /= wibble_decay
    flat = arr.reshape(n, -1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    flat = flat / flat.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    return flat.reshape(n, m, m).float().to(device)


# -- colour -------------------------------------------------------------------------------
def grey(x: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma (cv2 RGB2GRAY), (N, 1, H, W).

    Args:
        x: RGB images (N, 3, H, W).
    """
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def hsv_value_saturation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HSV value and saturation as in ``skimage.color.rgb2hsv`` (S = 0 where V = 0).

    Args:
        x: RGB images (N, 3, H, W).

    Returns:
        ``(V, S)``, each (N, 1, H, W).
    """
    v = x.amax(dim=1, keepdim=True)
    delta = v - x.amin(dim=1, keepdim=True)
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    return v, s
