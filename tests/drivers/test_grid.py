"""The grid driver walks every point once and evaluates each distinct model once."""

from __future__ import annotations

import optuna

from moo_compress import record
from moo_compress.cli import main
from tests.conftest import write_study

GRID_SPACE = """
variables:
  technique: {type: categorical, choices: [original, QAT, 'PQAT + int8']}
  prune_ratio: {type: categorical, choices: [0.0, 0.5]}
  finetune_epochs: 0
"""


def _complete(folder):
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder / 'study.db'}")
    return [t for t in study.trials if t.state.name == "COMPLETE"]


def test_grid_evaluates_each_distinct_model_once_and_resumes(tmp_path, shared_cache, capsys):
    study = write_study(tmp_path, driver="grid", n_trials=10, cache_dir=shared_cache)
    (tmp_path / "space.yaml").write_text(GRID_SPACE)
    assert main(["search", str(study), "--no-progress"]) == 0
    done = _complete(tmp_path)
    # 6 grid points but 3 models: QAT ignores prune_ratio, PQAT's 0 % means seed 000's 50 %
    assert sorted(t.user_attrs["config"]["technique"] for t in done) == [
        "PQAT + int8",
        "QAT",
        "original",
    ]
    pqat = next(t for t in done if t.user_attrs["config"]["technique"] == "PQAT + int8")
    assert pqat.user_attrs["config"]["prune_ratio"] == 0.5
    assert record.result(pqat)["details"]["cr"]["artifact_deflate_bytes"] > 0
    assert main(["search", str(study), "--no-progress"]) == 0
    assert len(_complete(tmp_path)) == 3, "a finished grid evaluates nothing again"


def test_grid_needs_a_finite_grid(tmp_path, capsys):
    study = write_study(tmp_path, driver="grid", cache_dir=tmp_path / "cache")
    (tmp_path / "space.yaml").write_text(
        "variables:\n  prune_ratio: {type: float, low: 0.0, high: 0.9}\n"
    )
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "driver.name: grid needs a finite grid for every searched variable" in err
    assert not (tmp_path / "study.db").exists()
