"""torchvision's ResNet, VGG (with batch norm) and MobileNetV2, adapted to 32x32 inputs.

The torchvision building blocks are used (``BasicBlock``/``Bottleneck`` with one ReLU module
per use, ``ResNet._make_layer``, ``vgg.make_layers``, ``MobileNetV2``); what changes is the
stem and the width:

- ResNet: a 3x3 stride-1 first convolution and no max-pool (no early downsampling), stage
  widths 64/128/256/512 times ``width``;
- VGG: the configurations A (VGG-11) and E (VGG-19) with batch norm, channels times
  ``width``, global average pooling and one linear classifier (the 32x32 input leaves a
  1x1 map);
- MobileNetV2: torchvision's ``width_mult``, with the stride of the first convolution and
  of the second stage set to 1, so a 32x32 image keeps a 4x4 map at the end.

Every model exposes ``features(x)`` (the penultimate representation) and ``head`` (the
classifier), which the clustering proxy and the ONNX export use.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenetv2, resnet, vgg

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarMobileNetV2",
    "CifarResNet",
    "CifarVGG",
    "mobilenet_v2",
    "resnet18",
    "resnet50",
    "vgg11_bn",
    "vgg19_bn",
]


def _scaled(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


class _HeadOverFeatures:
    """``forward`` as the engine expects it: the head applied to :meth:`features`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, ``head(features(x))``.

        Args:
            x: Images, ``(N, C, H, W)``.
        """
        return self.head(self.features(x))


class _PooledBody(_HeadOverFeatures):
    """Features as the global average of a convolutional ``body``."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (the input of ``head``), one row per image.

        Args:
            x: Images, ``(N, C, H, W)``.
        """
        return torch.flatten(self.avgpool(self.body(x)), 1)


class BasicBlock(resnet.BasicBlock):
    """torchvision's block with one ReLU module per use (attribution needs distinct modules).

    Args:
        *args: Positional arguments of torchvision's ``BasicBlock`` (inplanes, planes, ...).
        **kwargs: Keyword arguments of torchvision's ``BasicBlock``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()
        self.relu_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, ``relu(residual branch + shortcut)``.

        Args:
            x: Feature maps, ``(N, C, H, W)``.
        """
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu_out(self.bn2(self.conv2(out)) + identity)


class Bottleneck(resnet.Bottleneck):
    """torchvision's bottleneck with one ReLU module per use.

    Args:
        *args: Positional arguments of torchvision's ``Bottleneck`` (inplanes, planes, ...).
        **kwargs: Keyword arguments of torchvision's ``Bottleneck``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.relu_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, ``relu(residual branch + shortcut)``.

        Args:
            x: Feature maps, ``(N, C, H, W)``.
        """
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.relu_out(self.bn3(self.conv3(out)) + identity)


class CifarResNet(_HeadOverFeatures, resnet.ResNet):
    """torchvision ResNet with a CIFAR stem and a width multiplier.

    Args:
        block: The residual block class, :class:`BasicBlock` or :class:`Bottleneck`.
        layers: Blocks in each of the four stages.
        num_classes: Number of output classes (default 10).
        width: Multiplier of the stage widths 64/128/256/512, at least 4 channels each
            (default 1.0).
        in_channels: Input channels (default 3).
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 10,
        width: float = 1.0,
        in_channels: int = 3,
    ) -> None:
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        widths = [_scaled(c, width) for c in (64, 128, 256, 512)]
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (the input of ``head``), one row per image.

        Args:
            x: Images, ``(N, C, H, W)``.
        """
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def resnet18(num_classes: int = 10, width: float = 1.0) -> CifarResNet:
    """ResNet-18 (basic blocks 2-2-2-2) for 32x32 inputs.

    Args:
        num_classes: Number of output classes (default 10).
        width: Multiplier of the channel counts (default 1.0).
    """
    return CifarResNet(BasicBlock, [2, 2, 2, 2], num_classes, width)


def resnet50(num_classes: int = 10, width: float = 1.0) -> CifarResNet:
    """ResNet-50 (bottlenecks 3-4-6-3) for 32x32 inputs.

    Args:
        num_classes: Number of output classes (default 10).
        width: Multiplier of the channel counts (default 1.0).
    """
    return CifarResNet(Bottleneck, [3, 4, 6, 3], num_classes, width)


class CifarVGG(_PooledBody, nn.Module):
    """torchvision VGG features (batch norm) with global pooling and a linear head.

    Args:
        cfg: torchvision's configuration letter (``"A"`` is VGG-11, ``"E"`` VGG-19).
        num_classes: Number of output classes (default 10).
        width: Multiplier of the channel counts, at least 4 channels each (default 1.0).
    """

    def __init__(self, cfg: str, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        layers = [v if v == "M" else _scaled(v, width) for v in vgg.cfgs[cfg]]
        self.body = vgg.make_layers(layers, batch_norm=True)
        for m in self.body:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(layers[-2], num_classes)


def vgg11_bn(num_classes: int = 10, width: float = 1.0) -> CifarVGG:
    """VGG-11 with batch norm for 32x32 inputs.

    Args:
        num_classes: Number of output classes (default 10).
        width: Multiplier of the channel counts (default 1.0).
    """
    return CifarVGG("A", num_classes, width)


def vgg19_bn(num_classes: int = 10, width: float = 1.0) -> CifarVGG:
    """VGG-19 with batch norm for 32x32 inputs.

    Args:
        num_classes: Number of output classes (default 10).
        width: Multiplier of the channel counts (default 1.0).
    """
    return CifarVGG("E", num_classes, width)


class CifarMobileNetV2(_PooledBody, mobilenetv2.MobileNetV2):
    """torchvision MobileNetV2 (``width_mult`` = width) without its first two downsamplings.

    Args:
        num_classes: Number of output classes (default 10).
        width: torchvision's ``width_mult`` (default 1.0).
    """

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__(num_classes=num_classes, width_mult=width)
        body = self._modules.pop("features")  # the engine's features() is a method
        body[0][0].stride = (1, 1)  # stem
        body[2].conv[1][0].stride = (1, 1)  # first stride-2 inverted residual
        for m in body.modules():
            if isinstance(m, nn.ReLU6):
                m.inplace = False
        self.body = body
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = self._modules.pop("classifier")[1]


def mobilenet_v2(num_classes: int = 10, width: float = 1.0) -> CifarMobileNetV2:
    """MobileNetV2 for 32x32 inputs.

    Args:
        num_classes: Number of output classes (default 10).
        width: torchvision's ``width_mult`` (default 1.0).
    """
    return CifarMobileNetV2(num_classes, width)
