"""A build paused in its last fine-tuning run and continued from its checkpoint file is the
full build, bit for bit (CPU, deterministic algorithms)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from moo_compress.artifact import encode_model
from moo_compress.compression.checkpoint import load_paused
from moo_compress.compression.pipeline import build, compress
from moo_compress.config import TrainConfig
from moo_compress.errors import ArtifactError
from moo_compress.models.small_cnn import SmallCNN
from moo_compress.training import TrainingRun, train

ARCH = {"name": "small_cnn", "kwargs": {"num_classes": 10, "width": 0.5}}
SGD = TrainConfig(epochs=0, batch_size=64, lr=0.02, momentum=0.9, weight_decay=1e-4)
ADAMW = TrainConfig(
    epochs=0, batch_size=64, lr=0.002, momentum=0.9, weight_decay=1e-4, optimizer="adamw"
)


class DropoutCNN(SmallCNN):
    """A small CNN whose head draws dropout masks (the global random state)."""

    def __init__(self) -> None:
        super().__init__(10, width=0.5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        return self.head(self.drop(self.features(x)))


@pytest.fixture(scope="module")
def data():
    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)
    return ds.x_train[:192], ds.y_train[:192]


@pytest.fixture(scope="module", autouse=True)
def deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def _baseline(data, cls=SmallCNN):
    torch.manual_seed(0)
    m = cls() if cls is DropoutCNN else cls(10, width=0.5)
    train(m, data[0], data[1], TrainConfig(1, 32, 0.05, 0.9, 0.0), epochs=1, seed=0)
    return m


def _state(model) -> dict[str, torch.Tensor]:
    float_model = getattr(model, "float_model", model)
    return {k: v.clone() for k, v in float_model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


CONFIGS = {
    "prune+cluster+qat, act 8 bits": {
        "prune_ratio": 0.5,
        "cluster_count": 8,
        "quant_bits": 4,
        "act_bits": 8,
        "finetune_epochs": 4,
    },
    "filter pruning + int8": {
        "prune_ratio": 0.4,
        "prune_granularity": "filter",
        "int8": True,
        "finetune_epochs": 4,
    },
    "quantization only": {"quant_bits": 3, "finetune_epochs": 4},
}


@pytest.mark.parametrize(
    ("name", "optimizer"),
    [(name, "sgd") for name in CONFIGS] + [("prune+cluster+qat, act 8 bits", "adamw")],
)
def test_rungs_1_3_then_full_is_the_full_build(data, name, optimizer):
    config = CONFIGS[name]
    ft = SGD if optimizer == "sgd" else ADAMW
    base = _baseline(data)
    kw = {"x_train": data[0], "y_train": data[1], "finetune": ft, "seed": 7}
    full = compress(base, config, **kw)
    first = build(base, config, last_epochs=1, **kw)
    assert first.epochs == 1 and first.checkpoint is not None
    assert not _same(_state(first.model), _state(full))
    third = build(base, config, last_epochs=3, checkpoint=first.checkpoint, **kw)
    assert third.epochs == 3 and third.checkpoint is not None
    top = build(base, config, checkpoint=third.checkpoint, **kw)
    assert top.epochs == 4 and top.checkpoint is None
    assert _same(_state(top.model), _state(full))
    metadata = {"config": config}
    assert encode_model(top.model.cpu(), ARCH, metadata=metadata) == encode_model(
        full.cpu(), ARCH, metadata=metadata
    )


def test_dropout_models_continue_exactly_whatever_ran_before(data):
    config = {"prune_ratio": 0.5, "finetune_epochs": 3}
    base = _baseline(data, DropoutCNN)
    kw = {"x_train": data[0], "y_train": data[1], "finetune": SGD, "seed": 3}
    full = compress(base, config, **kw)
    torch.rand(1000)  # the caller's random state moves on: the build's does not
    first = build(base, config, last_epochs=1, **kw)
    torch.manual_seed(12345)
    top = build(base, config, checkpoint=first.checkpoint, **kw)
    assert _same(_state(top.model), _state(full))


def test_a_build_with_no_fine_tuning_left_has_no_checkpoint(data):
    base = _baseline(data)
    kw = {"x_train": data[0], "y_train": data[1], "finetune": SGD, "seed": 1}
    assert build(base, {"int8": True}, last_epochs=1, **kw).checkpoint is None
    done = build(base, {"prune_ratio": 0.3, "finetune_epochs": 2}, last_epochs=5, **kw)
    assert done.checkpoint is None and done.epochs == 2


def test_the_checkpoint_holds_no_code_and_refuses_other_builds(data):
    base = _baseline(data)
    config = {"prune_ratio": 0.5, "cluster_count": 4, "finetune_epochs": 2}
    kw = {"x_train": data[0], "y_train": data[1], "finetune": SGD, "seed": 1}
    paused = build(base, config, last_epochs=1, **kw)
    state = torch.load(io.BytesIO(paused.checkpoint), weights_only=True)  # no code inside
    assert state["run"]["done"] == 1
    with pytest.raises(ArtifactError, match="unreadable"):
        build(base, config, checkpoint=b"not a checkpoint", **kw)
    with pytest.raises(ArtifactError, match="not this build's last"):
        build(base, {**config, "quant_bits": 4}, checkpoint=paused.checkpoint, **kw)
    with pytest.raises(ArtifactError, match="does not fit"):  # another seed: another run
        build(base, config, checkpoint=paused.checkpoint, **{**kw, "seed": 2})
    with pytest.raises(ArtifactError, match="another baseline"):
        load_paused(paused.checkpoint, SmallCNN(10, width=0.5), lambda m, s: None)


def test_a_training_run_paused_anywhere_ends_where_the_whole_run_ends(data):
    torch.manual_seed(0)
    a = SmallCNN(10, width=0.5)
    b = SmallCNN(10, width=0.5)
    b.load_state_dict(a.state_dict())
    TrainingRun(a, data[0], data[1], SGD, epochs=3, seed=5).run()
    run = TrainingRun(b, data[0], data[1], SGD, epochs=3, seed=5)
    run.run(until=1)
    state = run.state_dict()
    c = SmallCNN(10, width=0.5)
    c.load_state_dict(b.state_dict())
    again = TrainingRun(c, data[0], data[1], SGD, epochs=3, seed=5)
    again.load_state_dict(state)
    again.run(until=2)
    again.run()
    assert _same(a.state_dict(), c.state_dict())
    assert np.isclose(again.sched.get_last_lr()[0], 0.0, atol=1e-12)
