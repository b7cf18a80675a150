"""A crashing or NaN evaluation is stored as failed with its reason and the search goes on."""

from __future__ import annotations

import optuna

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.evaluation import Evaluator
from moo_compress.objectives import task_objectives
from moo_compress.runner import run_search
from tests.conftest import write_study


def test_failed_trials_are_recorded_and_search_completes(tmp_path, shared_cache, monkeypatch):
    original = Evaluator.evaluate
    calls = {"n": 0}

    def flaky(self, config, key):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated out-of-memory")
        if calls["n"] == 3:
            raise FloatingPointError("objective mce is nan")
        return original(self, config, key)

    monkeypatch.setattr(Evaluator, "evaluate", flaky)
    path = write_study(tmp_path, driver="optuna-random", n_trials=3, cache_dir=shared_cache)
    summary = run_search(load_study_config(path), show_progress=False)
    assert summary["complete"] == 3 and summary["failed"] == 2
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{path.with_suffix('.db')}")
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == [
        "RuntimeError: simulated out-of-memory",
        "FloatingPointError: objective mce is nan",
    ]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for t in done:
        # record: all = every objective of the task but those added later (opt-in)
        everything = set(task_objectives("classification")) - {"proxy_corrupted_acc"}
        assert set(record.objectives(t)) == everything
        assert set(record.result(t)["details"]["mce"]["ce"]) == {"gaussian_noise", "contrast"}
    assert study.metric_names == ["accuracy", "cr", "mce", "proxy_purity"]
    assert len([k for k in study.user_attrs if k.startswith("hv/")]) == 3


def test_every_driver_completes_its_budget_without_repeats(tmp_path, shared_cache):

    for driver in ("optuna-nsga2", "optuna-random", "optuna-tpe", "pymoo-nsga2"):
        path = write_study(tmp_path / driver, driver=driver, n_trials=5, cache_dir=shared_cache)
        summary = run_search(load_study_config(path), show_progress=False)
        assert summary["complete"] == 5, driver
        study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{path.with_suffix('.db')}")
        keys = [
            t.user_attrs["config_key"]
            for t in study.trials
            if t.state == optuna.trial.TrialState.COMPLETE
        ]
        assert len(set(keys)) == 5, driver
        assert summary["archive_size"] >= 1
        assert 0.0 <= summary["hypervolume"] <= 1.0
        if driver == "pymoo-nsga2":
            gens = [t.user_attrs["generation"] for t in study.trials]
            assert gens == sorted(gens) and gens[0] == 0
