"""DeepLIFT importance takes every layer's output multipliers from one pass of Captum's
``DeepLift``; they are the ``LayerDeepLift`` multipliers of each layer, taken one layer at a
time (as seed 001 defines them), on plain, residual, depthwise and detection models."""

from __future__ import annotations

import pytest
import torch

from moo_compress.compression.deeplift import (
    _Evidence,
    _layer_deeplift_multipliers,
    _output_multipliers,
)
from moo_compress.models import ARCHITECTURES
from moo_compress.weights.constraints import prunable_layers


@pytest.mark.parametrize(
    ("arch", "width"),
    [("small_cnn", 0.5), ("resnet18", 0.125), ("mobilenet_v2", 0.125), ("centernet_lite", 0.5)],
)
def test_one_pass_gives_every_layer_s_layerdeeplift_multipliers(arch, width):
    torch.manual_seed(0)
    if arch == "centernet_lite":
        from moo_compress.detection.model import centernet_lite

        model = centernet_lite(num_classes=3, width=width).eval()
        explained = _Evidence(model)
        y = torch.tensor([0, 1, 2, 1])  # the class each image explains
    else:
        model = ARCHITECTURES.get(arch)(num_classes=10, width=width).eval()
        explained, y = model, torch.tensor([0, 3, 7, 9])
    x = torch.rand(4, 3, 32, 32)
    baseline = torch.zeros_like(x)
    modules = [m for _, m in prunable_layers(model)]
    together = _output_multipliers(explained, modules, x, baseline, y)
    for m in modules[:: max(1, len(modules) // 6)] + modules[-1:]:
        alone = _layer_deeplift_multipliers(explained, m, x, baseline, y)
        torch.testing.assert_close(together[id(m)], alone, rtol=1e-5, atol=1e-7)
