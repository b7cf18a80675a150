"""Each stage, and that later stages and fine-tuning never undo earlier ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moo_compress.artifact import decode_model, deflate_size, encode_model, pack_bits, unpack_bits
from moo_compress.compression.clustering import cluster_weights
from moo_compress.compression.pipeline import compress
from moo_compress.compression.pruning import magnitude_prune
from moo_compress.compression.quantization import quantize_weights
from moo_compress.config import TrainConfig
from moo_compress.models.small_cnn import SmallCNN
from moo_compress.training import predict, train
from moo_compress.weights.constraints import prunable_layers

ARCH = {"name": "small_cnn", "kwargs": {"num_classes": 10, "width": 0.5}}
FT = TrainConfig(epochs=0, batch_size=32, lr=0.01, momentum=0.9, weight_decay=0.0)


@pytest.fixture(scope="module")
def data():
    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    return ds.x_train[:256], ds.y_train[:256], ds.x_test[:128]


@pytest.fixture(scope="module")
def base(data):
    torch.manual_seed(0)
    m = SmallCNN(10, width=0.5)
    train(m, data[0], data[1], TrainConfig(2, 32, 0.05, 0.9, 0.0), epochs=2, seed=0)
    return m


def _zeros(model):
    return {n: (m.weight.detach() == 0) for n, m in prunable_layers(model)}


@pytest.mark.parametrize("granularity", ["unstructured", "kernel"])
def test_masks_survive_finetuning_clustering_and_qat(base, data, granularity):
    cfg = {
        "prune_ratio": 0.6,
        "prune_granularity": granularity,
        "cluster_count": 8,
        "quant_bits": 4,
        "finetune_epochs": 1,
    }
    model = compress(
        base,
        {**cfg, "cluster_count": 0, "quant_bits": 32},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=1,
    )
    pruned = _zeros(model)
    full = compress(base, cfg, x_train=data[0], y_train=data[1], finetune=FT, seed=1)
    for name, module in prunable_layers(full):
        w = module.weight.detach()
        assert torch.all(w[pruned[name]] == 0), f"{name}: pruned weights came back"
        if granularity == "kernel" and w.dim() == 4:
            dead = pruned[name].all(dim=(2, 3))
            assert dead.sum() == round(0.6 * dead.numel())
            assert torch.equal(pruned[name].any(dim=(2, 3)), dead), "kernels pruned whole"
    total = sum(m.sum().item() for m in pruned.values())
    size = sum(m.numel() for m in pruned.values())
    assert total / size == pytest.approx(0.6, abs=0.01)


def test_filter_pruning_removes_channels_and_later_stages_keep_them_removed(base, data):
    cfg = {"prune_ratio": 0.5, "prune_granularity": "filter", "finetune_epochs": 1}
    pruned = compress(base, cfg, x_train=data[0], y_train=data[1], finetune=FT, seed=1)
    full = compress(
        base,
        {**cfg, "cluster_count": 8, "quant_bits": 4},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=1,
    )
    before = dict(prunable_layers(base))
    layers = prunable_layers(pruned)
    for name, module in layers[:-1]:
        n = before[name].weight.shape[0]
        assert module.weight.shape[0] == n - round(0.5 * n), name
    assert layers[-1][1].weight.shape[0] == 10, "the output layer keeps its classes"
    for (name, a), (_, b) in zip(layers, prunable_layers(full), strict=True):
        assert a.weight.shape == b.weight.shape, name
    n_params = sum(p.numel() for p in pruned.parameters())
    assert n_params < 0.4 * sum(p.numel() for p in base.parameters())
    blob = encode_model(full, ARCH)
    loaded, _ = decode_model(blob)
    assert torch.equal(predict(full, data[2]), predict(loaded, data[2]))


@pytest.mark.parametrize("k", [4, 16])
def test_every_layer_has_at_most_k_values_after_clustering_and_finetuning(base, data, k):
    model = compress(
        base,
        {
            "prune_ratio": 0.5,
            "prune_granularity": "unstructured",
            "cluster_count": k,
            "quant_bits": 32,
            "finetune_epochs": 1,
        },
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=2,
    )
    for name, module in prunable_layers(model):
        values = torch.unique(module.weight.detach())
        assert len(values) <= k, f"{name}: {len(values)} distinct values"
        assert (values == 0).any(), "the pruned zeros are one of the k values"


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_quantized_weights_take_at_most_2_pow_b_values_per_channel(base, data, bits):
    model = compress(
        base,
        {
            "prune_ratio": 0.0,
            "prune_granularity": "unstructured",
            "cluster_count": 0,
            "quant_bits": bits,
            "finetune_epochs": 1,
        },
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=3,
    )
    for name, module in prunable_layers(model):
        w = module.weight.detach().reshape(module.weight.shape[0], -1)
        for row in w:
            assert len(torch.unique(row)) <= 2**bits, name


def test_quantization_gradient_is_straight_through(base):
    import copy

    model = copy.deepcopy(base)
    quantize_weights(model, 2)
    x = torch.rand(4, 3, 32, 32)
    model(x).sum().backward()
    grads = [m.parametrizations.weight.original.grad for _, m in prunable_layers(model)]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "cfg",
    [
        {"prune_ratio": 0.0, "cluster_count": 0, "quant_bits": 32},
        {"prune_ratio": 0.7, "cluster_count": 0, "quant_bits": 32},
        {"prune_ratio": 0.5, "cluster_count": 16, "quant_bits": 32},
        {"prune_ratio": 0.5, "cluster_count": 16, "quant_bits": 6},
        {"prune_ratio": 0.3, "cluster_count": 0, "quant_bits": 3},
        {"prune_ratio": 0.0, "cluster_count": 0, "quant_bits": 8},
    ],
)
@pytest.mark.parametrize("granularity", ["unstructured", "filter"])
def test_artifact_round_trip_gives_identical_outputs(base, data, cfg, granularity):
    full = {"prune_granularity": granularity, "finetune_epochs": 1, **cfg}
    model = compress(base, full, x_train=data[0], y_train=data[1], finetune=FT, seed=4)
    blob = encode_model(model, ARCH)
    loaded, header = decode_model(blob)
    assert torch.equal(predict(model, data[2]), predict(loaded, data[2]))
    if cfg["prune_ratio"] or cfg["cluster_count"] or cfg["quant_bits"] < 32:
        assert deflate_size(blob) < deflate_size(encode_model(base, ARCH))


def test_packed_sizes_follow_bit_widths(base):
    import copy

    dense = len(encode_model(base, ARCH))
    m4 = copy.deepcopy(base)
    quantize_weights(m4, 4)
    n_weights = sum(m.weight.numel() for _, m in prunable_layers(base))
    # 4-bit codes take an eighth of float32 weights (plus scales and the unchanged tensors).
    assert len(encode_model(m4, ARCH)) < dense - 0.8 * n_weights * 4 * (1 - 1 / 8)


def test_bit_packing_round_trip():
    rng = np.random.default_rng(0)
    for bits in (1, 2, 3, 5, 8, 11):
        values = rng.integers(0, 2**bits, size=1001)
        assert np.array_equal(unpack_bits(pack_bits(values, bits), bits, len(values)), values)


def test_stage_argument_errors(base):
    import copy

    m = copy.deepcopy(base)
    with pytest.raises(
        ValueError,
        match="'bits' parameter of quantize_weights must be an int in \\[2, 8\\] or 32. Got 12",
    ):
        quantize_weights(m, 12)
    with pytest.raises(ValueError, match="'granularity'"):
        magnitude_prune(m, 0.5, "rows")
    with pytest.raises(ValueError, match="'k' parameter"):
        cluster_weights(m, 1, seed=0)


def test_same_seed_same_compressed_model(base, data):
    cfg = {
        "prune_ratio": 0.4,
        "prune_granularity": "unstructured",
        "cluster_count": 8,
        "quant_bits": 4,
        "finetune_epochs": 1,
    }
    a = encode_model(
        compress(base, cfg, x_train=data[0], y_train=data[1], finetune=FT, seed=9), ARCH
    )
    b = encode_model(
        compress(base, cfg, x_train=data[0], y_train=data[1], finetune=FT, seed=9), ARCH
    )
    assert a == b
