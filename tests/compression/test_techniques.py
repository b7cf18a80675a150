"""The technique library: criteria, granularities, the 16-technique catalog, int8, QAT
activations and per-layer settings."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from moo_compress.artifact import decode_model, encode_model
from moo_compress.compression.params import TECHNIQUES
from moo_compress.compression.pipeline import compress
from moo_compress.compression.pruning import PruneContext, prune
from moo_compress.config import TrainConfig
from moo_compress.models.mlp import MLP
from moo_compress.models.small_cnn import SmallCNN
from moo_compress.training import accuracy, predict, train
from moo_compress.weights.constraints import existing_constraint, prunable_layers

ARCH = {"name": "small_cnn", "kwargs": {"num_classes": 10, "width": 0.5}}
FT = TrainConfig(epochs=1, batch_size=64, lr=0.01, momentum=0.9, weight_decay=0.0)


@pytest.fixture(scope="module")
def data():
    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    return ds.x_train[:400], ds.y_train[:400], ds.x_test[:200], ds.y_test[:200]


@pytest.fixture(scope="module")
def base(data):
    torch.manual_seed(0)
    m = SmallCNN(10, width=0.5)
    train(m, data[0], data[1], TrainConfig(6, 32, 0.05, 0.9, 0.0), epochs=6, seed=0)
    return m.cpu().eval()


@pytest.fixture(scope="module")
def mlp(data):
    torch.manual_seed(0)
    m = MLP(10, width=0.25)
    train(m, data[0], data[1], TrainConfig(8, 32, 0.05, 0.9, 0.0), epochs=8, seed=0)
    return m.cpu().eval()


def _ctx(model, ratio, granularity, data, **options):
    return PruneContext(
        ratios={n: ratio for n, _ in prunable_layers(model)},
        granularity=granularity,
        seed=0,
        x_train=data[0],
        y_train=data[1],
        train={"batch_size": 64},
        options={"score_epochs": 1, **options},
    )


def _kept(model) -> dict[str, torch.Tensor]:
    return {
        n: (existing_constraint(m).mask if existing_constraint(m) is not None else None)
        for n, m in prunable_layers(model)
    }


@pytest.mark.parametrize("method", ["magnitude", "random", "hydra", "deeplift"])
@pytest.mark.parametrize("granularity", ["unstructured", "kernel"])
def test_score_criteria_prune_the_requested_share(base, data, method, granularity):
    model = prune(copy.deepcopy(base), method, _ctx(base, 0.6, granularity, data))
    for name, mask in _kept(model).items():
        assert mask is not None, name
        if granularity == "kernel" and mask.dim() == 4:
            per_kernel = mask.amax(dim=(2, 3))
            assert torch.equal(per_kernel, mask.amin(dim=(2, 3))), "kernels are kept whole"
            assert 1 - per_kernel.mean().item() == pytest.approx(0.6, abs=0.02)
        else:
            assert 1 - mask.mean().item() == pytest.approx(0.6, abs=0.02)


def test_criteria_choose_different_weights(base, data):
    masks = {
        m: _kept(prune(copy.deepcopy(base), m, _ctx(base, 0.7, "unstructured", data)))
        for m in ("magnitude", "hydra", "deeplift")
    }
    for a, b in (("magnitude", "hydra"), ("magnitude", "deeplift"), ("hydra", "deeplift")):
        # HYDRA starts from scaled magnitudes, so single layers may keep the same weights
        # after one score epoch; the model as a whole must differ
        assert any(not torch.equal(masks[a][n], masks[b][n]) for n in masks[a]), (a, b)


def test_hydra_optimised_scores_beat_magnitude_before_finetuning(base, data):
    x_test, y_test = data[2], data[3]
    acc = {
        m: accuracy(
            prune(copy.deepcopy(base), m, _ctx(base, 0.85, "unstructured", data)), x_test, y_test
        )
        for m in ("magnitude", "hydra")
    }
    assert acc["hydra"] > acc["magnitude"], acc


def test_deeplift_scores_follow_the_documented_construction(mlp, data):
    """For the output layer the multiplier of the target logit is 1 (and 0 for the others),
    so a weight's score is |w_ji| * mean over images of |a_i - a_i'| for j = the label."""
    from moo_compress.compression.deeplift import _calibration, deeplift_scores
    from moo_compress.data.base import to_tensor

    ctx = _ctx(mlp, 0.5, "unstructured", data)
    scores = deeplift_scores(copy.deepcopy(mlp), ctx)
    x, y = _calibration(ctx)
    with torch.no_grad():
        a = mlp.features(to_tensor(x))
        a_ref = mlp.features(torch.zeros_like(to_tensor(x)))
    w = mlp.head.weight.detach()
    expected = torch.zeros_like(w)
    for b in range(len(y)):
        expected[y[b]] += (w[y[b]] * (a[b] - a_ref[0])).abs()
    expected /= len(y)
    assert torch.allclose(scores["head"], expected, atol=1e-5)


def test_filter_granularity_removes_channels_physically(base, data):
    model = prune(copy.deepcopy(base), "magnitude", _ctx(base, 0.5, "filter", data))
    convs = [m for _, m in prunable_layers(model) if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16]
    assert model.body[1].num_features == 4 and model.fc.out_features == 32
    assert model.head.out_features == 10
    assert all(existing_constraint(m) is None for _, m in prunable_layers(model))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("method", ["saliency", "datafree"])
def test_unit_pruning_uses_no_data_and_reaches_the_target(mlp, data, method):
    model = copy.deepcopy(mlp)
    ctx = PruneContext(
        ratios={n: 0.5 for n, _ in prunable_layers(model)}, granularity="unstructured", seed=3
    )
    prune(model, method, ctx)  # x_train is None: a data-driven step would fail
    masks = _kept(model)
    for name in ["body.1", "body.3", "body.5"]:
        rows = masks[name].reshape(masks[name].shape[0], -1)
        dead = (rows.sum(1) == 0).sum().item()
        assert dead == round(0.5 * rows.shape[0]), name
    x = data[2][:50]
    assert predict(model, x).shape == (50, 10)


def test_pruned_unit_is_merged_into_its_delegate(mlp):
    from moo_compress.compression.datafree import _merge

    model = copy.deepcopy(mlp)
    layer, nxt = model.body[5], model.head
    before = nxt.weight.detach().clone()
    _merge(layer, nxt, 2, 7)
    assert torch.equal(nxt.weight[:, 7], before[:, 7] + before[:, 2])
    assert not nxt.weight[:, 2].any() and not layer.weight[2].any() and layer.bias[2] == 0


def test_intervals_bound_every_real_activation(base):
    from moo_compress.compression.datafree import unit_intervals

    seq = base.sequential()
    bounds = unit_intervals(seq, (3, 32, 32))
    x = torch.rand(64, 3, 32, 32)
    x[:8] = x[:8].round()  # corners of the input box too
    with torch.no_grad():
        for module, (lo, hi) in zip(seq, bounds, strict=True):
            x = module(x)
            assert torch.all(x >= lo - 1e-4) and torch.all(x <= hi + 1e-4), type(module)


def test_energy_and_entropy_follow_the_definitions():
    from moo_compress.compression.datafree import energy, entropy

    same = torch.zeros(4), torch.ones(4)
    # four identical intervals: each is phi-similar to the 3 others, rho = 3/4
    assert entropy(*same) == pytest.approx(-4 * 0.75 * np.log(0.75))
    apart = torch.tensor([0.0, 10.0]), torch.tensor([1.0, 11.0])
    assert entropy(*apart) == 0.0
    assert energy(*apart) == pytest.approx(0.75 / (1 + np.exp(-2.0)) + 0.25 * 0.5)


def test_linear_cluster_init_and_kmeans_plus_plus_differ(base, data):
    a = compress(
        base,
        {"cluster_count": 8, "finetune_epochs": 0},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=0,
    )
    b = compress(
        base,
        {"cluster_count": 8, "cluster_init": "linear", "finetune_epochs": 0},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=0,
    )
    wa, wb = a.body[4].weight.detach(), b.body[4].weight.detach()
    assert len(torch.unique(wa)) <= 8 and len(torch.unique(wb)) <= 8
    assert not torch.equal(wa, wb)


def _onnx_weights(int8_model) -> list[np.ndarray]:
    """Dequantized int8 weights of the Conv/Gemm nodes of the ONNX model, in graph order."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(int8_model.onnx_bytes).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    out = []
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            dq = producers[node.input[1]]
            q, scale = inits[dq.input[0]], inits[dq.input[1]]
            assert q.dtype == np.int8
            out.append(q.astype(np.float32) * scale.reshape(-1, *([1] * (q.ndim - 1))))
    return out


@pytest.mark.parametrize("technique", list(TECHNIQUES))
def test_every_catalog_technique_preserves_earlier_stages(base, data, technique):
    config = {
        "technique": technique,
        "prune_ratio": 0.5,
        "cluster_count": 8,
        "quant_bits": 4,
        "finetune_epochs": 1,
    }
    _, (prune_on, cluster_on, qat_on, int8_on) = TECHNIQUES[technique]
    model = compress(base, config, x_train=data[0], y_train=data[1], finetune=FT, seed=5)
    float_model = model.float_model if int8_on else model
    assert hasattr(model, "onnx_bytes") == int8_on
    layers = prunable_layers(float_model)
    onnx_weights = _onnx_weights(model) if int8_on else [None] * len(layers)
    for (name, module), w8 in zip(layers, onnx_weights, strict=True):
        cw = existing_constraint(module)
        w = module.weight.detach()
        if prune_on:
            zeros = cw.mask == 0
            assert zeros.float().mean().item() == pytest.approx(0.5, abs=0.02), name
            assert torch.all(w[zeros] == 0), f"{name}: a later stage revived pruned weights"
            if w8 is not None:
                assert np.all(w8[zeros.numpy()] == 0), f"{name}: int8 revived pruned weights"
        if cluster_on:
            per_channel = w.reshape(w.shape[0], -1)
            if not (qat_on or int8_on):
                assert len(torch.unique(w)) <= 8, f"{name}: more than k values in the layer"
            for row in per_channel:
                assert len(torch.unique(row)) <= 8, f"{name}: cluster ties broken"
            if w8 is not None:
                for row in w8.reshape(w8.shape[0], -1):
                    assert len(np.unique(row)) <= 8, f"{name}: int8 broke the cluster ties"
        if qat_on:
            assert cw.bits == 4
            for row in w.reshape(w.shape[0], -1):
                assert len(torch.unique(row)) <= 2**4
        if not (prune_on or cluster_on or qat_on or int8_on):
            assert cw is None
    acc = accuracy(model, data[2], data[3])
    assert acc > 0.5, f"{technique}: accuracy {acc}"


def test_int8_model_runs_integer_kernels_and_round_trips(base, data, tmp_path):
    import onnxruntime as ort

    model = compress(
        base,
        {"technique": "post-training int8"},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=1,
    )
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(model.onnx_bytes, opts, providers=["CPUExecutionProvider"])
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node}
    assert {"QLinearConv", "QGemm"} <= ops, ops
    assert abs(accuracy(model, data[2], data[3]) - accuracy(base, data[2], data[3])) < 0.03
    blob = encode_model(model, ARCH)
    loaded, header = decode_model(blob)
    assert loaded.onnx_bytes == model.onnx_bytes
    assert torch.equal(predict(loaded, data[2]), predict(model, data[2]))
    assert header["stages"]["int8"]["qparams"]
    plain = encode_model(base, ARCH)
    assert len(blob) < 0.35 * len(plain), "int8 weights are stored as 8-bit codes"


def test_int8_attacks_use_the_float_twin_for_gradients(base, data):
    from moo_compress.adversarial import attack_predictions

    model = compress(
        base,
        {"technique": "post-training int8"},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=1,
    )
    clean, adv = attack_predictions(model, data[2][:64], data[3][:64], attack="fgsm", eps=0.1)
    assert (clean == data[3][:64]).mean() > 0.8
    assert (adv != clean).mean() > 0.05, "the transfer attack changes predictions"


def test_activation_quantization_limits_activation_levels_and_round_trips(base, data):
    model = compress(
        base,
        {"quant_bits": 8, "act_bits": 8, "finetune_epochs": 1},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=2,
    )
    seen = []
    hook = model.fc.register_forward_pre_hook(lambda m, a: seen.append(m.act_quant(a[0])))
    predict(model, data[2][:64])
    hook.remove()
    assert len(torch.unique(seen[0])) <= 256
    lo, hi = model.fc.act_quant.range.tolist()
    assert hi > lo
    loaded, header = decode_model(encode_model(model, ARCH))
    assert header["stages"]["act_bits"]["fc"] == 8
    assert torch.equal(predict(loaded, data[2]), predict(model, data[2]))


def test_per_layer_bits_and_ratios(base, data):
    config = {
        "layer_quant_bits": {"body.0": 8, "body.4": 3, "body.8": 32, "fc": 2, "head": 8},
        "layer_prune_ratio": {"body.0": 0.0, "body.4": 0.3, "body.8": 0.6, "fc": 0.9, "head": 0.0},
        "finetune_epochs": 1,
    }
    model = compress(base, config, x_train=data[0], y_train=data[1], finetune=FT, seed=3)
    layers = dict(prunable_layers(model))
    for name, bits in config["layer_quant_bits"].items():
        cw = existing_constraint(layers[name])
        assert (cw.bits if cw is not None else None) == (None if bits == 32 else bits), name
    for name, ratio in config["layer_prune_ratio"].items():
        mask = existing_constraint(layers[name]).mask
        pruned = 0.0 if mask is None else (mask == 0).float().mean().item()
        assert pruned == pytest.approx(ratio, abs=0.02), name
    loaded, _ = decode_model(encode_model(model, ARCH))
    assert torch.equal(predict(loaded, data[2]), predict(model, data[2]))


def test_robust_training_changes_finetuning(base, data):
    adversarial = {"eps": 0.05, "step": 0.02, "steps": 2, "random_start": False}
    config = {"prune_ratio": 0.5, "finetune_epochs": 1}
    plain = compress(
        base, config, x_train=data[0], y_train=data[1], finetune=FT, seed=4, adversarial=adversarial
    )
    robust = compress(
        base,
        {**config, "robust_training": True},
        x_train=data[0],
        y_train=data[1],
        finetune=FT,
        seed=4,
        adversarial=adversarial,
    )
    assert not torch.equal(plain.body[4].weight, robust.body[4].weight)
    assert torch.equal(plain.body[4].weight == 0, robust.body[4].weight == 0), "same mask"
