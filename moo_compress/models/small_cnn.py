"""A small CNN for 32x32 inputs that trains on CPU in seconds."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU-pool blocks, a hidden dense layer and a linear head.

    ``features(x)`` returns the penultimate representation (input of ``head``), which the
    clustering proxy uses. Every activation is its own (not in-place) module, so that
    attribution methods (Captum's DeepLIFT) and interval arithmetic see each of them.

    Args:
        num_classes: Number of output classes.
        width: Channel multiplier (1.0 gives 16/32/64 channels and 128 hidden units).
        in_channels: Input channels.
    """

    def __init__(self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        c1, c2, c3 = (max(1, int(round(c * width))) for c in (16, 32, 64))
        hidden = max(1, int(round(128 * width)))

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(*block(in_channels, c1), *block(c1, c2), *block(c2, c3))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c3 * 4 * 4, hidden)
        self.act = nn.ReLU()
        self.head = nn.Linear(hidden, num_classes)

    def sequential(self) -> list[nn.Module]:
        """The layers in forward order (used by interval arithmetic)."""
        return [*self.body, self.flatten, self.fc, self.act, self.head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (the input of ``head``), one row per image.

        Args:
            x: Images, ``(N, in_channels, 32, 32)``.
        """
        return self.act(self.fc(self.flatten(self.body(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, ``head(features(x))``.

        Args:
            x: Images, ``(N, in_channels, 32, 32)``.
        """
        return self.head(self.features(x))
