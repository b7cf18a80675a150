"""The user's own fine-tuning: AdamW instead of SGD, a training step ``(model, batch) ->
loss`` and an optimizer factory, from the study file and from the Python API; a study that
sets none keeps its fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import moo_compress as mc
from moo_compress.config import load_study_config
from moo_compress.data.digits import load_digits
from moo_compress.errors import ConfigError
from moo_compress.models.small_cnn import SmallCNN
from moo_compress.settings import FINETUNING
from moo_compress.training import train
from tests.conftest import write_study
from tests.models.userpkg import steps

STEPS = "tests.models.userpkg.steps"


@pytest.fixture(scope="module")
def digits():
    ds = load_digits(seed=0, test_fraction=0.3)
    return ds.x_train[:128], ds.y_train[:128]


def _trained(digits, **settings):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, width=0.25)
    before = _weights(model).clone()
    cfg = FINETUNING.__class__(**{**vars(FINETUNING), "batch_size": 32, **settings})
    train(model, *digits, cfg, epochs=1, seed=0)
    changed = not torch.equal(before, _weights(model))  # the parameters (not batch norm's stats)
    return model, changed


def _finetune(section: dict) -> str:
    return f"finetune: {json.dumps(section)}\n"


def _weights(model):
    return torch.cat([p.detach().flatten().cpu() for p in model.parameters()])


def test_the_users_step_is_what_training_minimises(digits):
    steps.CALLS.clear()
    default, changed = _trained(digits)
    assert changed and not steps.CALLS
    own, changed = _trained(digits, step=f"{STEPS}:smoothed_step")
    assert changed and not torch.equal(_weights(own), _weights(default))
    assert len(steps.CALLS) == 4  # 128 images, batches of 32
    shape, low, high, dtype = steps.CALLS[0]
    assert (
        shape == (32, *digits[0].shape[1:][::-1])
        and 0.0 <= low <= high <= 1.0
        and dtype == torch.int64
    )
    _, changed = _trained(digits, step=f"{STEPS}:zero_step")
    assert not changed  # a loss without gradient trains nothing: the step is really used


def test_adamw_and_the_users_optimizer_factory(digits):
    sgd, _ = _trained(digits)
    adamw, changed = _trained(digits, optimizer="adamw")
    assert changed and not torch.equal(_weights(adamw), _weights(sgd))
    _, changed = _trained(digits, optimizer_factory=f"{STEPS}:frozen_sgd")
    assert not changed  # lr 0: the factory's optimizer is the one stepping
    with pytest.raises(TypeError, match="not a torch.optim.Optimizer"):
        _trained(digits, optimizer_factory=f"{STEPS}:not_an_optimizer")
    with pytest.raises(TypeError, match="must return the batch's loss, a scalar tensor"):
        _trained(digits, step=f"{STEPS}:wrong_loss")


def test_the_study_file_names_them_and_they_are_part_of_the_fingerprint(tmp_path):
    plain = load_study_config(write_study(tmp_path / "a"))
    own = load_study_config(
        write_study(
            tmp_path / "b",
            extra=_finetune({"optimizer": "adamw", "step": f"{STEPS}:smoothed_step"}),
        )
    )
    assert own.finetune.optimizer == "adamw" and own.finetune.step == f"{STEPS}:smoothed_step"
    assert "step" not in plain.evaluation_spec()["finetune"]
    assert own.evaluation_spec()["finetune"]["step"] == f"{STEPS}:smoothed_step"


@pytest.mark.parametrize(
    "finetune,message",
    [
        ({"optimizer": "adam"}, "finetune.optimizer: must be one of {sgd, adamw}"),
        ({"step": "no_colon"}, "finetune.step: must be 'package.module:callable'"),
        ({"step": f"{STEPS}:missing"}, "finetune.step: cannot import"),
        (
            {"optimizer_factory": f"{STEPS}:CALLS"},
            "finetune.optimizer_factory: must name a callable",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key(tmp_path, finetune, message):
    with pytest.raises(ConfigError) as info:
        load_study_config(write_study(tmp_path, extra=_finetune(finetune)))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_python_api_takes_functions_and_refuses_what_a_worker_cannot_import(tmp_path):
    from tests.test_api import SETTINGS, _datasets, _model

    train_ds, test_ds = _datasets()
    data = mc.ImageClassificationData(train=train_ds, test=test_ds)
    net = _model()
    with pytest.raises(ConfigError, match="finetune_step: must be a module-level function") as info:
        mc.create_study(
            name="own",
            model=net,
            data=data,
            directory=tmp_path / "bad",
            **SETTINGS,
            finetune_step=lambda model, batch: model(batch[0]).sum(),
        )
    assert "\n" not in str(info.value) and not (tmp_path / "bad").exists()
    variables = {  # every model is pruned, so every trial fine-tunes
        **SETTINGS["space"]["variables"],
        "prune_ratio": {"type": "float", "low": 0.1, "high": 0.6, "step": 0.1},
        "finetune_epochs": 1,
    }
    settings = {**SETTINGS, "space": {"variables": variables}}
    steps.CALLS.clear()
    study = mc.create_study(
        name="own",
        model=net,
        data=data,
        directory=tmp_path / "own.moo",
        **settings,
        finetune_step=steps.smoothed_step,
        optimizer_factory=f"{STEPS}:frozen_sgd",
    )
    text = (tmp_path / "own.moo" / "study.yaml").read_text()
    assert (
        f"step: {STEPS}:smoothed_step" in text and f"optimizer_factory: {STEPS}:frozen_sgd" in text
    )
    study.optimize(n_trials=1, show_progress=False, log=lambda m: None)
    assert study.status()["complete"] == 1
    assert steps.CALLS and all(np.isfinite(c[1]) for c in steps.CALLS)
