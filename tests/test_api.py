"""The Python API: a user's model object and datasets, searched, read back by the CLI and by
Optuna, resumed by running the same call again, killed and resumed, refused when the model
changed, and every argument checked at once with the study file's messages."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import moo_compress as mc
from moo_compress.errors import ConfigError
from tests.conftest import ROOT, cli

SPACE = {
    "variables": {
        "prune_ratio": {"type": "float", "low": 0.0, "high": 0.6, "step": 0.1},
        "quant_bits": {"type": "categorical", "choices": [4, 8, 32]},
        "finetune_epochs": 0,
    }
}
SETTINGS = dict(
    space=SPACE,
    objectives=["accuracy", "cr", "mce"],
    record=["accuracy", "cr", "mce"],
    driver="optuna-random",
    corruptions={"names": ["contrast"], "severities": [3]},
)


def _datasets():
    """Digits as torch datasets of (float CHW tensor in [0, 1], label), as ToTensor gives."""
    import torch

    from moo_compress.data.digits import load_digits

    ds = load_digits(seed=0, test_fraction=0.3)

    def pairs(x, y):
        t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
        return [(t[i], int(y[i])) for i in range(len(y))]

    return pairs(ds.x_train[:300], ds.y_train[:300]), pairs(ds.x_test[:100], ds.y_test[:100])


def _model(seed: int = 0):
    import torch

    from moo_compress.data.digits import load_digits
    from moo_compress.models.user import UserModel
    from moo_compress.settings import TrainConfig
    from moo_compress.training import train
    from tests.models.userpkg.nets import OwnNet

    torch.manual_seed(seed)
    net = OwnNet()
    ds = load_digits(seed=0, test_fraction=0.3)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, momentum=0.9, weight_decay=0.0)
    train(UserModel(net), ds.x_train[:300], ds.y_train[:300], cfg, epochs=2, seed=0)
    return net.eval()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "own.moo"
    train, test = _datasets()
    net = _model()
    data = mc.ImageClassificationData(train=train, test=test)
    study = mc.create_study(name="own", model=net, data=data, directory=folder, **SETTINGS)
    summary = study.optimize(n_trials=2, show_progress=False, log=lambda m: None)
    return folder, study, net, data, summary


def test_a_model_object_is_searched_and_read_back_by_the_cli_and_optuna(made):
    import optuna

    folder, study, net, data, summary = made
    assert summary["complete"] == 2
    frame = study.pareto(all_trials=True)
    assert len(frame) == 2 and set(frame["arch"]) == {"python:tests.models.userpkg.nets.OwnNet"}
    assert study.status()["complete"] == 2
    # another process reads the study from its database alone, and from its study file
    res = cli("status", "--storage", study.storage, "--study", "own")
    assert res.returncode == 0 and "2 complete" in res.stdout, res.stderr
    res = cli("pareto", str(folder / "study.yaml"), "--all", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert sorted(r["trial"] for r in json.loads(res.stdout)) == sorted(frame["trial"])
    trials = optuna.load_study(study_name="own", storage=study.storage).trials
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2


def test_running_the_same_call_again_resumes(made):
    folder, study, net, data, _ = made
    before = study.pareto(all_trials=True)
    again = mc.create_study(
        name="own", model=net, data=data, directory=folder, load_if_exists=True, **SETTINGS
    )
    again.optimize(n_trials=3, show_progress=False, log=lambda m: None)
    after = again.pareto(all_trials=True)
    assert len(after) == 3
    kept = after[after["trial"].isin(before["trial"])]
    assert kept.reset_index(drop=True).equals(before.reset_index(drop=True))
    assert mc.load_study(name="own", directory=folder).status()["complete"] == 3


def test_a_changed_model_or_an_existing_name_is_refused_and_nothing_changes(made):
    import torch

    folder, study, net, data, _ = made
    text = (folder / "study.yaml").read_text()
    files = sorted(p.name for p in folder.iterdir())
    changed = _model()
    with torch.no_grad():
        changed.classifier[2].bias.add_(1.0)
    with pytest.raises(ConfigError, match="changed") as info:
        mc.create_study(
            name="own", model=changed, data=data, directory=folder, load_if_exists=True, **SETTINGS
        )
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="pass load_if_exists=True to resume it"):
        mc.create_study(name="own", model=net, data=data, directory=folder, **SETTINGS)
    assert (folder / "study.yaml").read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == files


@pytest.mark.parametrize(
    "change,message",
    [
        ({"objectives": ["nope"]}, "objectives[0]"),
        ({"seed": -1}, "study.seed: must be an int"),
        ({"driver": "annealing"}, "driver.name: must be one of"),
        ({"features_layer": "nowhere"}, "model.features_layer: must name a layer of OwnNet"),
        ({"model": object()}, "model: must be a trained torch.nn.Module"),
    ],
)
def test_every_argument_is_checked_at_once_with_the_study_files_messages(
    tmp_path, made, change, message
):
    _, _, net, data, _ = made
    args = {**SETTINGS, "name": "bad", "model": net, "data": data, "directory": tmp_path / "bad"}
    with pytest.raises(ConfigError) as info:
        mc.create_study(**{**args, **change})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "bad").exists()  # nothing half-written
    with pytest.raises(TypeError):
        mc.create_study("bad", net, data)  # keyword-only


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import moo_compress as mc
from tests.test_api import SETTINGS, _datasets, _model
train, test = _datasets()
study = mc.create_study(name="killed", model=_model(), directory={folder!r}, load_if_exists=True,
                        data=mc.ImageClassificationData(train=train, test=test), **SETTINGS)
study.optimize(n_trials={n}, show_progress=False)
"""


def test_a_killed_script_resumes_from_python(tmp_path):
    folder = str(tmp_path / "killed.moo")
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT.format(root=str(ROOT), folder=folder, n=8)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    db = tmp_path / "killed.moo" / "study.db"
    deadline = time.time() + 300
    import optuna

    def complete() -> int:
        """Completed trials, read-only: opening the file with Optuna while the script
        creates it would create its tables too, and one of the two would fail."""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                return con.execute(
                    "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                ).fetchone()[0]
        except sqlite3.Error:  # not there yet, or being created
            return 0

    while time.time() < deadline and proc.poll() is None and complete() < 1:
        time.sleep(1)
    assert complete() >= 1, f"no trial completed (the script exited {proc.poll()})"
    trials = optuna.load_study(study_name="killed", storage=f"sqlite:///{db}").trials
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {t.number: t.values for t in trials if t.state.name == "COMPLETE"}
    res = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    study = mc.load_study(name="killed", directory=folder)
    assert study.status()["complete"] == 8
    assert np.isfinite(study.pareto(all_trials=True)["accuracy"]).all()
    kept = {t.number: t.values for t in study.optuna_study.trials if t.number in done}
    assert kept == done  # what was stored before the kill is kept as it was


def test_datasets_are_written_batch_by_batch_and_read_memory_mapped(tmp_path):
    from moo_compress.data.arrays import load_arrays

    train, test = _datasets()
    one, two = tmp_path / "one", tmp_path / "two"
    mc.ImageClassificationData(train=train, test=test).write(one)
    mc.ImageClassificationData(train=train, test=test, num_workers=2).write(two)
    names = sorted(p.name for p in one.iterdir())
    assert names == ["x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)
    ds = load_arrays(seed=0, root=str(one))
    assert isinstance(ds.x_train, np.memmap) and ds.x_train.shape == (300, 32, 32, 3)
    assert np.array_equal(ds.y_test, [label for _, label in test])
    bad = [*train[:70], ("not an image", 1)]
    with pytest.raises(ConfigError, match=r"data.train: \[70\]: an image must be") as info:
        mc.ImageClassificationData(train=bad, test=test, num_workers=2).write(tmp_path / "bad")
    assert "\n" not in str(info.value) and not (tmp_path / "bad" / "x_train.npy").exists()
