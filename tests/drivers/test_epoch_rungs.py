"""Fine-tuning epochs as mo-asha's rungs (issue 26): a configuration measured through rungs
of 1, 3 and 8 epochs stores the model and values of one full evaluation, also when the
search is killed between rungs and resumed in another process; the paused runs are kept
while a promotion can come and deleted after the top rung."""

from __future__ import annotations

import textwrap

import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.errors import ConfigError
from moo_compress.runner import run_search
from moo_compress.study import open_search
from tests.conftest import cli

SPACE = """
variables:
  prune_ratio: {type: categorical, choices: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}
  cluster_count: 8
  quant_bits: 4
  finetune_epochs: 8
"""
LADDER = "rungs: [{finetune_epochs: 1}, {finetune_epochs: 3}]"


def _study(folder, cache, *, ladder: str = LADDER):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(SPACE)
    (folder / "study.yaml").write_text(
        textwrap.dedent(
            f"""
            study: {{name: epochs, seed: 5}}
            dataset: {{name: digits, test_fraction: 0.3}}
            model: {{arch: small_cnn, width: 0.5}}
            baseline: {{epochs: 2, lr: 0.05}}
            finetune: {{lr: 0.02, batch_size: 128}}
            search_space: space.yaml
            objectives:
              - {{name: accuracy, direction: maximize}}
              - {{name: cr, direction: maximize}}
            record: [accuracy, cr]
            corruptions: {{names: [gaussian_noise], severities: [1]}}
            driver: {{name: mo-asha, eta: 2, sampler: random, {ladder}}}
            budget: {{n_trials: 1}}
            cache_dir: {cache}
            """
        )
    )
    return folder / "study.yaml"


def _trials(cfg):
    from moo_compress.storage import storage_url

    study = optuna.load_study(study_name=cfg.name, storage=storage_url(cfg))
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def _checkpoints(cfg):
    return sorted(p.name for p in (cfg.cache_dir / "artifacts").glob("*.ckpt"))


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The study searched in one go, and each rung's paused runs seen after it."""
    folder = tmp_path_factory.mktemp("epochs")
    cfg = load_study_config(_study(folder, folder / "cache"))
    seen = []
    from moo_compress.drivers import mo_asha

    tidy = mo_asha.MoAshaDriver._tidy_checkpoints

    def spy(self, session, key, rung, outcome):
        tidy(self, session, key, rung, outcome)
        seen.append((key, rung, _checkpoints(cfg)))

    mo_asha.MoAshaDriver._tidy_checkpoints = spy
    try:
        run_search(cfg, show_progress=False)
    finally:
        mo_asha.MoAshaDriver._tidy_checkpoints = tidy
    return cfg, seen


def _top(cfg):
    done = [t for t in _trials(cfg) if t.state == TrialState.COMPLETE]
    assert len(done) == 1
    return done[0]


def test_the_top_rung_stores_the_full_evaluations_model_and_values(searched):
    cfg, _ = searched
    top = _top(cfg)
    ladder = [t for t in _trials(cfg) if record.config_key(t) == record.config_key(top)]
    assert [record.rung(t)["rung"] for t in ladder] == [0, 1, 2]
    assert [record.rung(t).get("finetune_epochs") for t in ladder] == [1, 3, None]
    assert [record.result(t).get("finetune_epochs") for t in ladder] == [1, 3, None]
    assert record.objectives(ladder[0]) != record.objectives(top)  # 1 epoch is another model
    with open_search(cfg) as search:  # the same configuration, evaluated in full anew
        full = search.session.evaluator.evaluate(record.config(top), record.config_key(top))
    import hashlib

    assert record.result(top)["artifact_sha256"] == hashlib.sha256(full.artifact).hexdigest()
    assert record.objectives(top) == full.values


def test_paused_runs_are_kept_while_a_promotion_can_come_and_deleted_after(searched):
    cfg, seen = searched
    top_key = record.config_key(_top(cfg))
    # after every rung-0 evaluation its paused run (1 epoch) is kept
    for key, rung, files in seen:
        if rung == 0:
            assert f"{key}.e1.ckpt" in files
        if rung == 1:  # promoted: its 3-epoch run replaces the 1-epoch one
            assert f"{key}.e3.ckpt" in files and f"{key}.e1.ckpt" not in files
        if rung == 2:
            assert not any(f.startswith(key) for f in files)
    assert seen[-1][:2] == (top_key, 2)
    assert _checkpoints(cfg) == []  # the budget is met: no promotion can come


def test_a_search_killed_between_rungs_resumes_in_another_process(tmp_path, searched):
    cfg_full, _ = searched
    cfg = load_study_config(_study(tmp_path / "s", cfg_full.cache_dir))
    from moo_compress.evaluation.classification import ClassificationEvaluator

    inner = ClassificationEvaluator.evaluate_rung
    calls = []

    def killed_at_the_fourth(self, *args, **kwargs):
        calls.append(kwargs.get("finetune_epochs"))
        if len(calls) == 4:  # the first promotion (to 3 epochs) has been stored
            raise KeyboardInterrupt
        return inner(self, *args, **kwargs)

    ClassificationEvaluator.evaluate_rung = killed_at_the_fourth
    try:
        with pytest.raises(KeyboardInterrupt):
            run_search(cfg, show_progress=False)
    finally:
        ClassificationEvaluator.evaluate_rung = inner
    assert calls == [1, 1, 3, 1]
    kept = _checkpoints(cfg)
    assert any(name.endswith(".e3.ckpt") for name in kept)  # the promoted run waits
    # continued by another process: the CLI's search resumes from storage and the files
    result = cli("search", str(cfg.source), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert _checkpoints(cfg) == []
    top, top_full = _top(cfg), _top(cfg_full)
    assert record.config_key(top) == record.config_key(top_full)
    assert record.result(top)["artifact_sha256"] == record.result(top_full)["artifact_sha256"]
    assert record.objectives(top) == record.objectives(top_full)


def test_a_missing_or_bad_checkpoint_builds_the_same_model_again(searched):
    cfg, _ = searched
    import hashlib

    top = _top(cfg)
    key, config = record.config_key(top), record.config(top)
    second = next(
        t for t in _trials(cfg) if record.config_key(t) == key and record.rung(t)["rung"] == 1
    )
    with open_search(cfg) as search:
        ev = search.session.evaluator
        for bad in (None, b"not a checkpoint"):
            res = ev.evaluate_rung(config, key, finetune_epochs=3, checkpoint=bad)
            digest = hashlib.sha256(res.artifact).hexdigest()
            assert digest == record.result(second)["artifact_sha256"]
            assert res.values == record.objectives(second)
            assert res.finetune_epochs == 3
            assert (
                hashlib.sha256(res.checkpoint).hexdigest()
                == record.result(second)["checkpoint_sha256"]
            )


@pytest.mark.parametrize(
    ("ladder", "message"),
    [
        ("rungs: [{finetune_epochs: 8}]", "must be below the full evaluation's fine-tuning"),
        (
            "rungs: [{finetune_epochs: 3}, {finetune_epochs: 1}]",
            "must not be below the epochs of a rung under it",
        ),
        (
            "rungs: [{objectives: [accuracy]}, {finetune_epochs: 1}]",
            "must not be below the epochs of a rung under it",
        ),
        ("rungs: [{finetune_epochs: 0}]", "finetune_epochs"),
    ],
)
def test_bad_epoch_ladders_are_refused_in_one_line(tmp_path, ladder, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_study_config(_study(tmp_path, tmp_path / "cache", ladder=ladder))
    assert "\n" not in str(info.value)
