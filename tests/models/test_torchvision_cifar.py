"""torchvision ResNet, VGG and MobileNetV2 adapted to 32x32: every compression stage runs on
each (residual additions, depthwise convolutions, batch norm folding for int8), and the
packed artifact reproduces the compressed model exactly."""

from __future__ import annotations

import pytest
import torch

from moo_compress.artifact import decode_model, encode_model
from moo_compress.compression.pipeline import compress
from moo_compress.config import TrainConfig
from moo_compress.models import ARCHITECTURES
from moo_compress.training import predict
from moo_compress.weights.constraints import prunable_layers

ARCHS = ["resnet18", "resnet50", "vgg11_bn", "vgg19_bn", "mobilenet_v2"]
FT = TrainConfig(epochs=1, batch_size=32, lr=0.01, momentum=0.9, weight_decay=0.0)
CONFIGS = {
    "PCQAT + int8, filters removed": {
        "technique": "PCQAT + int8",
        "prune_granularity": "filter",
        "finetune_epochs": 1,
    },
    "HYDRA kernels + 4-bit QAT with 8-bit activations": {
        "prune_ratio": 0.5,
        "prune_method": "hydra",
        "prune_granularity": "kernel",
        "score_epochs": 1,
        "quant_bits": 4,
        "act_bits": 8,
        "finetune_epochs": 1,
    },
    "DeepLIFT unstructured + clustering": {
        "prune_ratio": 0.5,
        "prune_method": "deeplift",
        "cluster_count": 8,
        "finetune_epochs": 0,
    },
}


@pytest.fixture(scope="module")
def data():
    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    return ds.x_train[:96], ds.y_train[:96], ds.x_test[:32]


@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_shapes_and_registry(arch):
    model = ARCHITECTURES.get(arch)(num_classes=10, width=0.125).eval()
    x = torch.rand(2, 3, 32, 32)
    feats = model.features(x)
    assert feats.shape == (2, model.head.in_features)
    assert torch.equal(model(x), model.head(feats))
    wider = ARCHITECTURES.get(arch)(num_classes=10, width=0.25)
    n = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in wider.parameters()) > 2 * n, "width scales the model"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("label", list(CONFIGS))
def test_every_stage_runs_on_every_architecture(arch, label, data):
    torch.manual_seed(0)
    base = ARCHITECTURES.get(arch)(num_classes=10, width=0.125)
    # Without oneDNN: on CPUs without AVX-512 its 1x1 convolution weight gradient never
    # returns for a stride-2 shortcut of 4 channels at 32x32 (torch 2.14.1), the shape the
    # width-0.125 ResNets have after filter pruning. This test checks the stages and the
    # artifact round trip, not oneDNN.
    with torch.backends.mkldnn.flags(enabled=False):
        compressed = compress(
            base, CONFIGS[label], x_train=data[0], y_train=data[1], finetune=FT, seed=1
        )
    spec = {"name": arch, "kwargs": {"num_classes": 10, "width": 0.125}}
    blob = encode_model(compressed.cpu(), spec)
    loaded, _ = decode_model(blob)
    assert torch.equal(predict(loaded, data[2]), predict(compressed, data[2]))
    _assert_stages_took_effect(compressed, CONFIGS[label])
    if "filters removed" in label:
        before = dict(prunable_layers(base))
        after = dict(prunable_layers(compressed.float_model))
        assert sum(m.weight.numel() for m in after.values()) < 0.6 * sum(
            m.weight.numel() for m in before.values()
        )


def _assert_stages_took_effect(model, config):
    """Each stage the configuration switches on left its mark on the weights."""
    from moo_compress.compression.params import resolve

    c = resolve(config)
    int8 = getattr(model, "int8_spec", None) is not None
    assert int8 == c["int8"]
    if int8:
        assert (
            model.onnx_bytes
            and b"QLinear" in model.onnx_bytes
            or b"DequantizeLinear" in (model.onnx_bytes)
        )
        model = model.float_model
    layers = dict(prunable_layers(model))
    weights = {n: m.weight.detach() for n, m in layers.items()}
    if c["prune_ratio"] > 0 and c["prune_granularity"] != "filter":
        zeros = sum(int((w == 0).sum()) for w in weights.values())
        total = sum(w.numel() for w in weights.values())
        assert zeros / total >= 0.9 * c["prune_ratio"], (zeros / total, c["prune_ratio"])
    for name, w in weights.items():
        if c["cluster_count"]:  # k shared values per layer (zero counts as one of them);
            # QAT on top quantizes the centroids with each output channel's scale
            rows = w.flatten(1) if c["quant_bits"] != 32 else w.reshape(1, -1)
            distinct = max(torch.unique(row).numel() for row in rows)
            assert distinct <= c["cluster_count"] + 1, (name, distinct)
        if c["quant_bits"] != 32:  # at most 2**b levels per output channel
            levels = max(torch.unique(row).numel() for row in w.flatten(1))
            assert levels <= 2 ** c["quant_bits"], (name, levels)
    if c["act_bits"] == 8:
        assert all(hasattr(m, "act_quant") for m in layers.values())
