from __future__ import annotations

import numpy as np
import optuna

from moo_compress.archive import normalized_hypervolume, pareto_indices
from moo_compress.compression.params import PARAMETERS
from moo_compress.space import load_space
from tests.conftest import ROOT


def test_default_space_decodes_only_valid_points():
    from pymoo.core.mixed import MixedVariableSampling
    from pymoo.core.problem import Problem

    space = load_space(ROOT / "search_spaces" / "default.yaml")
    problem = Problem(vars=space.pymoo_variables(), n_obj=2)
    pop = MixedVariableSampling()(problem, 300, random_state=np.random.default_rng(0))
    for x in pop.get("X"):
        config = space.from_pymoo(x)
        for name, value in config.items():
            assert PARAMETERS[name].contains(value), (name, value)
        assert round(config["prune_ratio"] / 0.05, 6) == round(config["prune_ratio"] / 0.05)


def test_optuna_suggest_gives_full_config_and_stable_keys():
    space = load_space(ROOT / "search_spaces" / "default.yaml")
    study = optuna.create_study(
        directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    trial = study.ask()
    config = space.suggest(trial)
    assert set(config) == set(PARAMETERS)
    assert space.config_key(config) == space.config_key(dict(reversed(list(config.items()))))


def test_removed_and_fixed_variables(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        "variables:\n  quant_bits: 8\n  prune_ratio: {type: float, low: 0.1, high: 0.5, step: 0.1}\n"
    )
    space = load_space(p)
    config = space.full_config({"prune_ratio": 0.30000000004})
    assert config == {
        "prune_ratio": 0.3,
        "prune_granularity": "unstructured",
        "cluster_count": 0,
        "quant_bits": 8,
        "finetune_epochs": 1,
    }


def test_pareto_and_hypervolume():
    values = np.array([[90.0, 2.0], [80.0, 5.0], [70.0, 4.0], [90.0, 2.0]])
    assert pareto_indices(values, ["maximize", "maximize"]) == [0, 1]
    hv = normalized_hypervolume(values, ["maximize", "maximize"], [(0, 100), (0, 10)])
    # union of [0,.9]x[0,.2] and [0,.8]x[0,.5]
    assert abs(hv - (0.9 * 0.2 + 0.8 * 0.3)) < 1e-9
    assert (
        normalized_hypervolume(np.empty((0, 2)), ["maximize", "minimize"], [(0, 1), (0, 1)]) == 0.0
    )
