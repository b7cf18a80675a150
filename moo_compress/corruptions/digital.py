"""Digital corruptions: contrast, elastic transform, pixelate, JPEG (standard), saturate (extra).

pixelate reproduces PIL's BOX resampling of uint8 images bit for bit (fixed-point weights,
rounding to uint8 after each pass). Parameters: REFERENCE.md section 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from moo_compress.corruptions._filters import (
    gaussian_filter,
    hsv_value_saturation,
    pil_box_resize_uint8,
    rand,
)
from moo_compress.corruptions.parameters import PARAMETER_SETS, severity_values

__all__ = ["contrast", "elastic_transform", "jpeg_compression", "pixelate", "saturate"]


def contrast(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Deviations from each image's per-channel mean scaled by 0.75 down to 0.15 (CIFAR-10-C).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "contrast", severity)
    means = x.mean(dim=(2, 3), keepdim=True)  # per image and channel, as np.mean(x, axis=(0, 1))
    return ((x - means) * c + means).clamp(0, 1)


def pixelate(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """PIL: ``x.resize((int(32 c), int(32 c)), BOX).resize((32, 32), BOX)`` on the uint8 image.

    The reference scales the CIFAR size 32 (``int(32 * c)`` on both axes); for other sizes
    each axis is scaled by itself (``int(h * c)``, ``int(w * c)``), the same at 32 x 32.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    c = severity_values(parameters, "pixelate", severity)
    h, w = x.shape[2], x.shape[3]
    # float64 (exact integer sums) on the CPU: not every accelerator has float64
    u8 = torch.round(x.detach().cpu().double().clamp(0, 1) * 255.0)
    small = pil_box_resize_uint8(u8, int(h * c), int(w * c))
    return (pil_box_resize_uint8(small, h, w) / 255.0).to(x.device, x.dtype)


def jpeg_compression(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """A JPEG round trip (libjpeg, quality 80 down to 40 for CIFAR-10-C) of the uint8 images.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    # A real codec: libjpeg through torchvision, on uint8 images, like PIL's save(quality=q).
    import warnings

    quality = severity_values(parameters, "jpeg_compression", severity)
    images = list(x.clamp(0, 1).mul(255).round().byte().cpu())
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its image codecs in favour of TorchCodec; they still
        # wrap libjpeg and work. Switch when TorchCodec ships a batched still-image encoder.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        decoded = decode_jpeg(encode_jpeg(images, quality=quality))
    return torch.stack(decoded).to(x.device).float().div(255.0)


def _affine_from_points(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``cv2.getAffineTransform`` for a batch: (n, 3, 2) point triples -> (n, 2, 3)."""
    n = src.shape[0]
    a = torch.zeros(n, 6, 6, dtype=torch.float64)
    a[:, 0:3, 0:2] = src
    a[:, 0:3, 2] = 1
    a[:, 3:6, 3:5] = src
    a[:, 3:6, 5] = 1
    b = torch.cat([dst[:, :, 0], dst[:, :, 1]], dim=1)
    return torch.linalg.solve(a, b).reshape(n, 2, 3)


def elastic_transform(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """Random affine warp (cv2.warpAffine, bilinear, BORDER_REFLECT_101), then a smooth random
    displacement field sampled bilinearly with half-sample reflection (map_coordinates).

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: CPU generator of the random draws.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    n, _, h, w = x.shape
    # the reference scales its parameters by its image size (ImageNet-C's script: 244)
    size = PARAMETER_SETS[parameters].elastic_size
    alpha, sigma, affine = severity_values(parameters, "elastic_transform", severity)
    alpha, sigma, affine = alpha * size, sigma * size, affine * size
    centre = torch.tensor([w // 2, h // 2], dtype=torch.float64)  # (x, y), as shape_size // 2
    sq = min(h, w) // 3
    pts1 = torch.stack(
        [centre + sq, torch.stack([centre[0] + sq, centre[1] - sq]), centre - sq]
    ).expand(n, 3, 2)
    jitter = torch.rand((n, 3, 2), generator=gen, dtype=torch.float64) * (2 * affine) - affine
    m = _affine_from_points(pts1, pts1 + jitter.float().double())
    # warpAffine samples the source at M^-1 (x, y)
    full = torch.cat([m, torch.tensor([0, 0, 1.0], dtype=torch.float64).expand(n, 1, 3)], dim=1)
    inv = torch.linalg.inv(full)[:, :2]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (h, w, 3)
    src = torch.einsum("nij,hwj->nhwi", inv, pts)
    grid = torch.stack([2 * src[..., 0] / (w - 1) - 1, 2 * src[..., 1] / (h - 1) - 1], dim=-1)
    warped = F.grid_sample(
        x,
        grid.to(x.device, x.dtype),
        mode="bilinear",
        padding_mode="reflection",
        align_corners=True,
    )
    if alpha == 0:
        return warped.clamp(0, 1)
    noise = rand((n, 2, h, w), gen, x.device, -1.0, 1.0)
    disp = gaussian_filter(noise, sigma, mode="reflect", truncate=3.0) * alpha
    dx, dy = disp[:, 0].double().cpu(), disp[:, 1].double().cpu()
    sx, sy = xs[None] + dx, ys[None] + dy
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1)
    out = F.grid_sample(
        warped,
        grid.to(x.device, x.dtype),
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )
    return out.clamp(0, 1)


def saturate(
    x: torch.Tensor, severity: int, gen: torch.Generator, *, parameters: str = "cifar"
) -> torch.Tensor:
    """HSV saturation ``S * a + b`` (clipped), hue and value kept, as the reference's round trip.

    For fixed hue and value, each RGB channel is ``V - (V - c) * S' / S``; grey pixels
    (S = 0, hue 0 in skimage) that gain saturation become ``(V, V (1 - S'), V (1 - S'))``.

    Args:
        x: Images (N, C, H, W) in [0, 1].
        severity: 1..5.
        gen: Unused (deterministic); part of the common corruption signature.
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).

    Returns:
        The corrupted images, same shape, in [0, 1].
    """
    a, b = severity_values(parameters, "saturate", severity)
    v, s = hsv_value_saturation(x)
    s_new = (s * a + b).clamp(0, 1)
    coloured = v - (v - x) * s_new / s.clamp_min(1e-12)
    grey_px = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
    return torch.where(s > 0, coloured, grey_px).clamp(0, 1)
