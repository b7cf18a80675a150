"""A compact one-stage detector that trains on CPU in minutes: CenterNet-style heads on a
small convolutional backbone with one top-down (FPN-like) merge.

- Output at stride 4: per class a centre heatmap (logits), per cell the box size (log of
  width and height in cells) and the sub-cell offset of the centre.
- Training targets are dense tensors (:func:`encode_targets`), so detection trains, prunes,
  fine-tunes and attacks through the same batched code as classification: the model
  provides ``task_loss(outputs, targets)`` (focal loss on the heatmap, L1 on size and offset
  at object centres, as in CenterNet).
- :func:`decode` turns outputs into candidate boxes (3x3 max-pool peak picking, top-k); the
  confidence filter and NMS follow in :func:`moo_compress.detection.metrics.postprocess`.

Every layer is a plain Conv2d/BatchNorm2d/ReLU, so all compression techniques apply; the last
1x1 convolution is ``head`` (never filter-pruned, like a classifier's head).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CenterNetLite", "centernet_lite", "centernet_loss", "decode", "encode_targets"]

STRIDE = 4
EXTRA_CHANNELS = 5  # target tensor: C heatmaps, then log w, log h, dx, dy, centre mask


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class CenterNetLite(nn.Module):
    """CenterNet-style detector: a stride-4 map of class heatmaps, box sizes and offsets.

    Args:
        num_classes: Object categories.
        width: Channel multiplier (1.0: 32 channels at stride 1 ... 256 at stride 8; at
            least 8 channels each; default 1.0).
    """

    def __init__(self, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = [max(8, int(round(w * width))) for w in (32, 64, 128, 256)]
        self.num_classes = num_classes
        self.stem = nn.Sequential(_block(3, c[0], 1), _block(c[0], c[1], 2))  # stride 2
        self.stage4 = nn.Sequential(_block(c[1], c[2], 2), _block(c[2], c[2], 1))  # stride 4
        self.stage8 = nn.Sequential(_block(c[2], c[3], 2), _block(c[3], c[3], 1))  # stride 8
        self.lateral = nn.Sequential(
            nn.Conv2d(c[3], c[2], 1, bias=False), nn.BatchNorm2d(c[2]), nn.ReLU()
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.neck = _block(c[2], c[2], 1)
        self.head = nn.Conv2d(c[2], num_classes + 4, 1)
        with torch.no_grad():  # CenterNet's prior: heatmaps start near 0.1 % probability
            self.head.bias.zero_()
            self.head.bias[:num_classes].fill_(-math.log((1 - 0.01) / 0.01))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The merged stride-4 feature map (the input of ``head``).

        Args:
            x: Images, float (N, 3, H, W) in [0, 1].
        """
        s4 = self.stage4(self.stem(x))
        s8 = self.stage8(s4)
        return self.neck(s4 + self.up(self.lateral(s8)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs (N, C + 4, H/4, W/4): heatmap logits, log w, log h, dx, dy.

        Args:
            x: Images, float (N, 3, H, W) in [0, 1].
        """
        return self.head(self.features(x))

    def task_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`centernet_loss` (what training and attacks use instead of cross-entropy).

        Args:
            out: The model's outputs.
            target: Dense targets from :func:`encode_targets`.
        """
        return centernet_loss(out, target, self.num_classes)

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """What DeepLIFT attributes: each class's heatmap logits averaged over the image,
        (N, C).

        Args:
            x: Images, float (N, 3, H, W) in [0, 1].
        """
        return self(x)[:, : self.num_classes].mean(dim=(2, 3))

    def evidence_target(self, target: torch.Tensor) -> torch.Tensor:
        """The class with most object mass in each image's target heatmaps.

        Args:
            target: Dense targets from :func:`encode_targets`.
        """
        return target[:, : self.num_classes].sum(dim=(2, 3)).argmax(1)


def centernet_loss(out: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Penalty-reduced focal loss (alpha 2, beta 4) on the heatmaps plus L1 on log size and
    offset at object centres, normalised by the number of objects (at least 1).

    Args:
        out: Model outputs (N, C + 4, G, G).
        target: Dense targets (N, C + 5, G, G) from :func:`encode_targets`.
        num_classes: C.
    """
    c = num_classes
    logits, heat = out[:, :c].float(), target[:, :c]
    mask = target[:, c + 4]
    pos = heat.eq(1).float()
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    log_p, log_1p = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_loss = -(log_p * (1 - p) ** 2 * pos).sum()
    neg_loss = -(log_1p * p**2 * (1 - heat) ** 4 * (1 - pos)).sum()
    n = mask.sum().clamp(min=1.0)
    box = (out[:, c : c + 4].float() - target[:, c : c + 4]).abs() * mask[:, None]
    return (pos_loss + neg_loss) / n + box.sum() / n


def _radius(w: float, h: float, min_overlap: float = 0.7) -> float:
    """CenterNet's Gaussian radius: centres this close still give IoU >= min_overlap."""
    a1, b1, c1 = 1, h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return max(0.0, min(r1, r2, r3))


def encode_targets(
    boxes: list[tuple[np.ndarray, np.ndarray]], num_classes: int, image_size: int
) -> np.ndarray:
    """Dense float32 targets (N, C + 5, S/4, S/4) from per-image boxes (x1, y1, x2, y2 in input
    pixels) and class indices.

    Channels: C Gaussian centre heatmaps, then log w, log h, dx, dy and a centre mask.

    Args:
        boxes: Per image, ``(xyxy (K, 4), class indices (K,))``.
        num_classes: C.
        image_size: S, the side of the square input images.
    """
    g = image_size // STRIDE
    out = np.zeros((len(boxes), num_classes + EXTRA_CHANNELS, g, g), np.float32)
    yy, xx = np.mgrid[0:g, 0:g].astype(np.float32)
    for i, (xyxy, labels) in enumerate(boxes):
        for (x1, y1, x2, y2), k in zip(xyxy / STRIDE, labels, strict=True):
            w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
            sigma = (2 * max(0, int(_radius(w, h))) + 1) / 6
            gauss = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma**2))
            out[i, k] = np.maximum(out[i, k], gauss)
            out[i, num_classes : num_classes + 5, iy, ix] = (
                math.log(w),
                math.log(h),
                cx - ix,
                cy - iy,
                1.0,
            )
    return out


@torch.no_grad()
def decode(
    out: torch.Tensor, num_classes: int, top_k: int = 50
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Candidates per image: (boxes x1, y1, x2, y2 in input pixels, scores, class indices).

    Args:
        out: Model outputs (N, C + 4, G, G).
        num_classes: C.
        top_k: Heatmap peaks kept per image (default 50).
    """
    c = num_classes
    heat = torch.sigmoid(out[:, :c].float())
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    n, _, g, _ = heat.shape
    scores, idx = peaks.reshape(n, -1).topk(min(top_k, c * g * g))
    labels = idx // (g * g)
    cell = idx % (g * g)
    iy, ix = (cell // g).float(), (cell % g).float()
    reg = out[:, c : c + 4].float().reshape(n, 4, -1)
    gather = reg.gather(2, cell[:, None, :].expand(n, 4, cell.shape[1]))
    w, h = gather[:, 0].clamp(max=8).exp(), gather[:, 1].clamp(max=8).exp()
    cx, cy = ix + gather[:, 2], iy + gather[:, 3]
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=2) * STRIDE
    return [(boxes[i], scores[i], labels[i]) for i in range(n)]


def centernet_lite(num_classes: int = 4, width: float = 1.0) -> CenterNetLite:
    """The registry's detector builder.

    Args:
        num_classes: Object categories (default 4).
        width: Channel multiplier (default 1.0).
    """
    return CenterNetLite(num_classes, width)
