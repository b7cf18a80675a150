"""The search space: variables, canonical configurations and the parameters trials store."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from moo_compress.compression.params import PARAMETERS
from moo_compress.errors import ConfigError
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
        for name, dom in PARAMETERS.items():
            assert dom.contains(config[name]), (name, config[name])
        assert round(config["prune_ratio"] / 0.05, 6) == round(config["prune_ratio"] / 0.05)


def test_optuna_suggest_gives_full_config_and_stable_keys():
    space = load_space(ROOT / "search_spaces" / "default.yaml")
    study = optuna.create_study(
        directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    trial = study.ask()
    config = space.suggest(trial)
    assert set(config) == {*PARAMETERS, "layer_prune_ratio", "layer_quant_bits"}
    assert space.config_key(config) == space.config_key(dict(reversed(list(config.items()))))


def test_removed_and_fixed_variables(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        "variables:\n  quant_bits: 8\n  prune_ratio: {type: float, low: 0.1, high: 0.5, step: 0.1}\n"
    )
    space = load_space(p)
    config = space.full_config({"prune_ratio": 0.30000000004})
    assert config == {
        "technique": "PQAT",
        "prune_ratio": 0.3,
        "prune_method": "magnitude",
        "prune_granularity": "unstructured",
        "score_epochs": 2,
        "deeplift_baseline": "zero",
        "robust_training": False,
        "cluster_count": 0,
        "cluster_init": "kmeans++",
        "quant_bits": 8,
        "act_bits": 32,
        "int8": False,
        "replicate": 0,
        "finetune_epochs": 1,
        "layer_prune_ratio": {},
        "layer_quant_bits": {},
    }


def test_technique_variable_switches_stages_and_canonicalises(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        "variables:\n"
        "  technique: {type: categorical, choices: [original, 'PQAT + int8', clustering]}\n"
        "  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.1}\n"
        "  prune_method: {type: categorical, choices: [hydra, deeplift]}\n"
        "  cluster_count: {type: categorical, choices: [0, 8, 16]}\n"
    )
    space = load_space(p)
    base = {"prune_ratio": 0.0, "prune_method": "hydra", "cluster_count": 8}
    pqat = space.full_config({**base, "technique": "PQAT + int8"})
    # the technique switches pruning, QAT and int8 on with seed 000's settings where the
    # variables say "off", and clustering off
    assert (pqat["prune_ratio"], pqat["quant_bits"], pqat["int8"]) == (0.5, 8, True)
    assert pqat["cluster_count"] == 0 and pqat["score_epochs"] == 2
    original = space.full_config({**base, "technique": "original"})
    same = space.full_config(
        {**base, "prune_ratio": 0.7, "prune_method": "deeplift", "technique": "original"}
    )
    assert space.config_key(original) == space.config_key(same), "no stage, same identity"
    assert original["finetune_epochs"] == 0
    clustering = space.full_config({**base, "cluster_count": 0, "technique": "clustering"})
    assert clustering["cluster_count"] == 16 and clustering["prune_ratio"] == 0.0


def test_auto_technique_names_all_16_catalog_entries():
    from moo_compress.compression.params import TECHNIQUES, resolve

    names = set()
    for p in (0.0, 0.5):
        for c in (0, 16):
            for q in (32, 8):
                for i in (False, True):
                    names.add(
                        resolve({"prune_ratio": p, "cluster_count": c, "quant_bits": q, "int8": i})[
                            "technique"
                        ]
                    )
    assert names == set(TECHNIQUES)
    assert sorted(n for n, _ in TECHNIQUES.values()) == list(range(1, 17))


def test_per_layer_variables_bind_to_the_architecture(tmp_path):
    from moo_compress.models import layer_names

    p = tmp_path / "s.yaml"
    p.write_text(
        "variables:\n  prune_ratio: 0.5\n"
        "per_layer:\n  quant_bits: {type: categorical, choices: [4, 8, 32]}\n"
    )
    space = load_space(p).bind(layer_names("small_cnn"))
    assert [v.name for v in space.searched] == [
        f"quant_bits@{n}" for n in ["body.0", "body.4", "body.8", "fc", "head"]
    ]
    config = space.full_config(
        {v.name: 4 if v.name.endswith("head") else 32 for v in space.searched}
    )
    assert config["layer_quant_bits"]["head"] == 4
    assert config["technique"] == "PQAT"
    p.write_text(
        "variables:\n  quant_bits: 8\nper_layer:\n  quant_bits: {type: categorical, choices: [4, 8]}\n"
    )
    with pytest.raises(ConfigError, match="per_layer.quant_bits: replaces variables.quant_bits"):
        load_space(p)


def test_params_of_a_canonical_config_stay_in_their_domains(tmp_path):
    """An unpruned model's prune_method is reset to magnitude; the trial's parameters must
    still be values Optuna's distributions accept, and lead back to the same model."""
    from moo_compress.space import load_space

    path = tmp_path / "space.yaml"
    path.write_text(
        "variables:\n  prune_ratio: {type: categorical, choices: [0.0, 0.5]}\n"
        "  prune_method: {type: categorical, choices: [hydra, deeplift]}\n"
    )
    space = load_space(path)
    config = space.full_config({"prune_ratio": 0.0, "prune_method": "deeplift"})
    assert config["prune_method"] == "magnitude"
    params = space.searched_params(config)
    assert params == {"prune_ratio": 0.0, "prune_method": "hydra"}
    for name, dist in space.distributions().items():
        dist.to_internal_repr(params[name])  # raises for a value outside the domain
    assert space.full_config(params) == config


def _write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_a_technique_setting_outside_the_variable_is_refused(tmp_path):
    """Before: the catalog's 50 % sparsity was snapped back to 0.3 when stored, so the trial
    said 0.3 while the model had 0.5 (and the Dask path recorded the 0.5 model under the
    0.3 key). Now the space is refused when it is loaded."""
    path = _write(
        tmp_path,
        "variables:\n  technique: {type: categorical, choices: [original, pruning]}\n"
        "  prune_ratio: {type: float, low: 0.0, high: 0.3, step: 0.1}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_space(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: variables.prune_ratio: ")
    assert "0.5" in msg and "'pruning'" in msg and "\n" not in msg
    # the same space is fine when 0.5 is a value of the variable, or 0 (off) is not
    for text in ("low: 0.0, high: 0.6, step: 0.1", "low: 0.1, high: 0.3, step: 0.1"):
        path.write_text(
            "variables:\n  technique: {type: categorical, choices: [original, pruning]}\n"
            f"  prune_ratio: {{type: float, {text}}}\n"
        )
        load_space(path)
    path.write_text(
        "variables:\n  technique: QAT\n  quant_bits: {type: categorical, choices: [4, 32]}\n"
    )
    with pytest.raises(ConfigError, match="variables.quant_bits"):
        load_space(path)


@pytest.mark.parametrize("name", ["default", "catalog", "detection", "seed001_pruning"])
def test_stored_parameters_rebuild_exactly_the_built_configuration(name):
    """For every shipped space and 200 random points: the parameters a trial stores give
    back the configuration (and key) that was built, whatever canonicalisation did."""
    space = load_space(ROOT / "search_spaces" / f"{name}.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(200):
        config = space.suggest(study.ask())
        params = space.searched_params(config)
        rebuilt = space.full_config(params)
        assert space.config_key(rebuilt) == space.config_key(config), (config, params)


def test_per_layer_parameters_rebuild_a_technique_forced_configuration(tmp_path):
    path = _write(
        tmp_path,
        "variables:\n  technique: {type: categorical, choices: [original, QAT]}\n"
        "per_layer:\n  quant_bits: {type: categorical, choices: [4, 8, 32]}\n",
    )
    space = load_space(path).bind(["a", "b"])
    config = space.full_config({"technique": "QAT", "quant_bits@a": 32, "quant_bits@b": 32})
    assert config["layer_quant_bits"] == {"a": 8, "b": 8}
    params = space.searched_params(config)
    assert params == {"technique": "QAT", "quant_bits@a": 8, "quant_bits@b": 8}
    assert space.config_key(space.full_config(params)) == space.config_key(config)


def test_settings_that_build_the_same_model_share_one_configuration():
    """Before: datafree/saliency kept their granularity (kernel and unstructured masks of FC
    units are the same model) and robust_training stayed when nothing trains."""
    from moo_compress.compression.params import resolve
    from moo_compress.space import SearchSpace

    key = SearchSpace.config_key
    for method in ("datafree", "saliency"):
        base = {"prune_ratio": 0.5, "prune_method": method}
        a = resolve({**base, "prune_granularity": "kernel"})
        b = resolve({**base, "prune_granularity": "unstructured"})
        assert key(a) == key(b)
        # filter granularity removes the units physically: a smaller file, another model
        assert key(resolve({**base, "prune_granularity": "filter"})) != key(b)
    # kernel still matters for criteria that score single weights
    m = {"prune_ratio": 0.5, "prune_method": "magnitude"}
    assert key(resolve({**m, "prune_granularity": "kernel"})) != key(resolve(m))
    # nothing trains: no fine-tuning and no HYDRA score optimisation
    still = {**m, "finetune_epochs": 0}
    assert key(resolve({**still, "robust_training": True})) == key(resolve(still))
    # fine-tuning or HYDRA's score optimisation trains: robust_training matters
    for trains in ({**m, "finetune_epochs": 1}, {**still, "prune_method": "hydra"}):
        assert key(resolve({**trains, "robust_training": True})) != key(resolve(trains))
