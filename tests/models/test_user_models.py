"""A user's own model: weights read without running code, features tapped at the input of
the final Linear layer, rebuilt from an artifact only through a trusted builder, and every
technique of seed 000 on an architecture with a grouped conv, squeeze-excitation, a residual
addition and a Sequential head."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from moo_compress.artifact import decode_model, encode_model
from moo_compress.compression.params import TECHNIQUES
from moo_compress.compression.pipeline import compress
from moo_compress.errors import ArtifactError, ConfigError, DataError
from moo_compress.models import build_model
from moo_compress.models.user import UserModel, torchvision_model
from moo_compress.models.weights import load_state_dict, load_weights
from moo_compress.settings import TrainConfig
from moo_compress.training import predict, predict_outputs
from tests.models.userpkg.nets import NoLinear, OwnNet

BUILDER = "tests.models.userpkg.nets:build"
SPEC = {"name": "own", "builder": BUILDER, "kwargs": {"num_classes": 10}}


class _RunsCode:
    """Unpickling this calls a function that writes a marker file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_a_weights_file_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path, how):
    marker = tmp_path / "ran"
    path = tmp_path / "weights.pt"
    payload = {"fc.weight": torch.zeros(2, 2), "evil": _RunsCode(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    with pytest.raises(DataError, match="refused: loading it would run code") as info:
        load_state_dict(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_safetensors_and_torch_state_dicts_load_and_checkpoints_unwrap(tmp_path):
    from safetensors.torch import save_file

    model = OwnNet()
    state = model.state_dict()
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pt"
    )
    for name in ("w.safetensors", "w.pt"):
        fresh = load_weights(OwnNet(), tmp_path / name)
        for k, v in fresh.state_dict().items():
            assert torch.equal(v, state[k]), (name, k)


def test_mismatched_keys_and_shapes_are_named(tmp_path):
    state = OwnNet().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["stem.0.weight"]
    state["classifier.2.weight"] = torch.zeros(3, 32)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(DataError) as info:
        load_weights(OwnNet(), tmp_path / "w.pt")
    msg = str(info.value)
    assert "missing keys: stem.0.weight" in msg and "unexpected keys: extra.weight" in msg
    assert "classifier.2.weight (3, 32) vs (10, 32)" in msg
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a weights file"):
        load_state_dict(tmp_path / "junk.pt")


def test_features_are_the_input_of_the_final_linear_and_logits_unchanged():
    torch.manual_seed(0)
    net = OwnNet().eval()
    model = UserModel(net).eval()
    assert model.features_layer == "classifier.2"
    x = torch.rand(4, 3, 16, 16)
    feats, logits = model.features_and_logits(x)
    assert torch.equal(logits, net(x))
    pooled = net.pool(net.down(net.stem(x) + net.se(net.grouped(net.stem(x))))).flatten(1)
    torch.testing.assert_close(feats, pooled)
    assert torch.equal(model.features(x), feats)
    assert not net.classifier[2]._forward_pre_hooks  # the tap is removed after each call
    named = UserModel(OwnNet(), features_layer="pool")
    assert named.features(x).shape == (4, 32 * 8 * 8)  # the input of the pooling, flattened


def test_a_model_without_a_linear_layer_is_told_to_name_features_layer():
    with pytest.raises(ConfigError, match="model: features_layer: NoLinear has no Linear layer"):
        UserModel(NoLinear())
    with pytest.raises(ConfigError, match="must name a layer of OwnNet. Got 'nope'"):
        UserModel(OwnNet(), features_layer="nope")


def test_a_torchvision_model_is_built_by_name_without_downloading():
    model = torchvision_model("mobilenet_v3_small", num_classes=7)
    assert model.classifier[-1].out_features == 7
    with pytest.raises(ConfigError, match="torchvision classification architecture"):
        torchvision_model("fasterrcnn_resnet50_fpn", num_classes=7)
    wrapped = build_model({"name": "tv", "torchvision": "resnet18", "kwargs": {"num_classes": 5}})
    assert isinstance(wrapped, UserModel) and wrapped.features_layer == "fc"


def test_a_model_file_never_imports_an_untrusted_builder():
    blob = encode_model(UserModel(OwnNet()), SPEC)
    with pytest.raises(ArtifactError, match="built by the user's builder"):
        decode_model(blob)
    model, header = decode_model(blob, builders=(BUILDER,))
    assert isinstance(model, UserModel) and header["arch"]["builder"] == BUILDER


@pytest.fixture(scope="module")
def data():
    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    # 16x16 inputs: the user's model is not tied to 32x32
    small = lambda x: x[:, ::2, ::2]  # noqa: E731
    return small(ds.x_train[:96]), ds.y_train[:96], small(ds.x_test[:32])


FT = TrainConfig(epochs=1, batch_size=32, lr=0.01, momentum=0.9, weight_decay=0.0)


@pytest.mark.parametrize("technique", list(TECHNIQUES))
def test_every_technique_of_seed_000_runs_on_a_users_module(technique, data):
    torch.manual_seed(0)
    base = UserModel(OwnNet())
    config = {
        "technique": technique,
        "prune_ratio": 0.5,
        "prune_granularity": "filter",
        "finetune_epochs": 1,
    }
    compressed = compress(base, config, x_train=data[0], y_train=data[1], finetune=FT, seed=1)
    blob = encode_model(compressed.cpu(), SPEC)
    loaded, header = decode_model(blob, builders=(BUILDER,))
    np.testing.assert_allclose(
        predict(loaded, data[2]).numpy(), predict(compressed, data[2]).numpy(), atol=1e-5
    )
    feats, logits = predict_outputs(loaded, data[2])
    assert feats.shape[0] == logits.shape[0] == len(data[2]) and logits.shape[1] == 10
    if TECHNIQUES[technique][1][0]:  # pruned: filters removed where torch-pruning can
        body = getattr(compressed, "float_model", compressed)  # int8: its float twin
        assert body.net.down[0].out_channels < 32
        assert any("grouped convolution net.grouped.0" in n for n in compressed.compression_skipped)
    else:
        assert not getattr(compressed, "compression_skipped", [])
