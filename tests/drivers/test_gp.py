"""``optuna-gp``'s sampler (issue 26): Optuna's GPSampler on a warped copy of the study, the
acquisition maximized over a finite space's unevaluated points, and a killed search that
resumes with the same trials."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.drivers.gp import WarpedGPSampler, _normal_scores, _squash, _Warp
from moo_compress.drivers.optuna_samplers import OptunaDriver
from moo_compress.search import SearchSession
from tests.conftest import write_study
from tests.test_search_constraints import _table


def test_ordered_choices_become_numbers_and_map_back_to_the_nearest():
    bits = _Warp(CategoricalDistribution([2, 4, 8, 32]))
    assert isinstance(bits.shadow, FloatDistribution)
    assert bits.forward(8) == pytest.approx(3.169925, abs=1e-6)  # log2(1 + 8)
    assert bits.back(bits.forward(4) + 0.1) == 4
    assert bits.back(100.0) == 32
    small = _Warp(CategoricalDistribution([1, 2, 3]))  # a factor of 2: kept linear
    assert small.forward(3) == 3.0
    for kept in ([False, True], ["unstructured", "filter"], [4, 8]):
        w = _Warp(CategoricalDistribution(kept))
        assert isinstance(w.shadow, CategoricalDistribution) and w.forward(kept[0]) == kept[0]


def test_objectives_keep_their_order_and_constraints_their_sign():
    import numpy as np

    values = np.array([[1.0, 600.0], [3.0, 2.0], [2.0, 2.0], [100.0, 1.0]])
    scores = _normal_scores(values)
    assert list(np.argsort(scores[:, 0])) == [0, 2, 1, 3]
    assert scores[1, 1] == scores[2, 1]  # ties share their score
    assert np.abs(scores).max() < 1.2  # 600 is no outlier any more
    assert _squash([-5.0, 0.0, 87.0]) == pytest.approx([-np.log(6), 0.0, np.log(88)])
    assert _squash(None) is None


def test_on_a_finite_space_it_never_proposes_an_evaluated_point():
    space = {
        "x": CategoricalDistribution([0, 4, 16, 64]),
        "y": FloatDistribution(0.0, 0.9, step=0.3),
    }
    study = optuna.create_study(directions=["minimize", "maximize"])
    seen = set()
    for x in (0, 4, 16, 64):
        for y in (0.0, 0.9):
            study.add_trial(
                optuna.trial.create_trial(
                    params={"x": x, "y": y}, distributions=space, values=[x * (1 + y), y - x]
                )
            )
            seen.add((x, y))
    sampler = WarpedGPSampler(seed=0, n_startup_trials=4)
    proposals = set()
    for seed in range(3):
        sampler = WarpedGPSampler(seed=seed, n_startup_trials=4)
        params = sampler.propose(study.trials, list(study.directions), space)
        assert params["x"] in (0, 4, 16, 64) and params["y"] in (0.0, 0.3, 0.6, 0.9)
        proposals.add((params["x"], round(params["y"], 6)))
    assert not proposals & seen


def _search(cfg, table, *, fail_at: int | None = None, storage=None):
    storage = storage or optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name=cfg.name, storage=storage, directions=cfg.directions, load_if_exists=True
    )
    if fail_at is not None:
        calls = []
        inner = table.evaluate

        def evaluate(*args, **kwargs):
            calls.append(1)
            if len(calls) == fail_at:
                raise KeyboardInterrupt
            return inner(*args, **kwargs)

        table.evaluate = evaluate
    session = SearchSession(cfg, study, table, show_progress=False)
    try:
        OptunaDriver(cfg).run(session, interrupted=[])
    except KeyboardInterrupt:
        session.interrupt_running()
    finally:
        if fail_at is not None:
            del table.evaluate
    return study


def test_a_killed_search_resumes_with_the_same_trials(tmp_path):
    cfg = load_study_config(write_study(tmp_path, driver="optuna-gp", n_trials=10))
    cfg = cfg.__class__(**{**cfg.__dict__, "driver_options": {"n_startup_trials": 3}})
    straight = _search(cfg, _table(cfg.space))
    storage = optuna.storages.InMemoryStorage()
    _search(cfg, _table(cfg.space), fail_at=7, storage=storage)
    resumed = _search(cfg, _table(cfg.space), storage=storage)

    def done(study):
        return [
            (record.config_key(t), t.values)
            for t in sorted(study.trials, key=lambda t: t.number)
            if t.state.name == "COMPLETE"
        ]

    assert len(done(straight)) == 10
    assert done(resumed) == done(straight)
