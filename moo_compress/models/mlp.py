"""A multilayer perceptron on flattened images (the model family of seed 002)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Flatten -> [Linear -> ReLU] x len(hidden) -> Linear head.

    Args:
        num_classes: Number of output classes.
        width: Multiplier of the hidden sizes.
        in_features: Inputs per image (3 x 32 x 32 for the embedded datasets).
        hidden: Hidden layer sizes at width 1.
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: float = 1.0,
        in_features: int = 3 * 32 * 32,
        hidden: tuple[int, ...] = (256, 128, 64),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden:
            h = max(1, int(round(h * width)))
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes)

    def sequential(self) -> list[nn.Module]:
        """The layers in forward order (used by interval arithmetic)."""
        return [*self.body, self.head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (the input of ``head``), one row per image.

        Args:
            x: Images, ``(N, C, H, W)`` (flattened to ``in_features``).
        """
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, ``head(features(x))``.

        Args:
            x: Images, ``(N, C, H, W)`` (flattened to ``in_features``).
        """
        return self.head(self.features(x))
