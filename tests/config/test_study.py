"""Bad study and space files: exit code 2, a message naming the problem, no database file."""

from __future__ import annotations

import pytest

from moo_compress.cli import main
from tests.conftest import write_study

CASES = [
    # (what to change, expected fragment of the message)
    (
        "study.yaml",
        lambda t: t.replace("n_trials: 8", "n_trials: 0"),
        "budget.n_trials: must be an int in [1, 1000000]. Got 0",
    ),
    ("study.yaml", lambda t: t + "unknown_key: 1\n", "unknown_key: is not a known key"),
    (
        "study.yaml",
        lambda t: t.replace("direction: minimize", "direction: smaller"),
        "objectives[2].direction: must be one of {maximize, minimize}. Got 'smaller'",
    ),
    (
        "study.yaml",
        lambda t: t.replace("name: accuracy", "name: f1"),
        "objectives[0].name: must be one of {accuracy, cr, mce, relative_mce, corruption_accuracy",
    ),
    (
        "study.yaml",
        lambda t: t.replace("name: pymoo-nsga2", "name: bayes"),
        "driver.name: must be one of",
    ),
    (
        "study.yaml",
        lambda t: t.replace("population_size: 4", "population_size: 1"),
        "driver.population_size: must be an int in [2, 100000]. Got 1",
    ),
    (
        "study.yaml",
        lambda t: t.replace("arch: small_cnn", "arch: resnet1000"),
        "model.arch: must be one of {small_cnn, mlp, resnet18, resnet50, vgg11_bn, vgg19_bn, mobilenet_v2}. Got 'resnet1000'",
    ),
    (
        "study.yaml",
        lambda t: t.replace("test_fraction: 0.3", "test_fraction: 'a lot'"),
        "dataset.test_fraction: must be a number in [0.05, 0.9]. Got 'a lot'",
    ),
    (
        "study.yaml",
        lambda t: t.replace("severities: [1, 3, 5]", "severities: [0, 6]"),
        "corruptions.severities: must be a non-empty list of distinct ints in [1, 5]",
    ),
    (
        "study.yaml",
        lambda t: t.replace("[gaussian_noise, contrast]", "[gaussian_noise, fog_of_war]"),
        "corruptions.names[1]: must be one of",
    ),
    (
        "study.yaml",
        lambda t: t.replace("search_space: space.yaml", "search_space: nowhere.yaml"),
        "search_space: must name an existing search-space file",
    ),
    (
        "study.yaml",
        lambda t: t.replace("epochs: 4", "epochs: four"),
        "baseline.epochs: must be an int in [1, 1000]. Got 'four'",
    ),
    ("study.yaml", lambda t: "study: [unclosed\n", "is not valid YAML"),
    (
        "space.yaml",
        lambda t: t.replace("high: 0.9, step: 0.1", "high: 1.2, step: 0.1"),
        "variables.prune_ratio.high: must be a float in [0, 0.99]. Got 1.2",
    ),
    (
        "space.yaml",
        lambda t: t.replace("choices: [4, 8, 32]", "choices: [4, 8, 12]"),
        "variables.quant_bits.choices[2]: must be an int in [2, 8], or 32 (not quantized). Got 12",
    ),
    (
        "space.yaml",
        lambda t: t.replace("choices: [0, 8, 16]", "choices: [0, 2, 16]"),
        "variables.cluster_count.choices[1]: must be 0 (clustering off) or an int in [4, 256]. Got 2",
    ),
    (
        "space.yaml",
        lambda t: t.replace("choices: [unstructured, filter]", "choices: [unstructured, channel]"),
        "variables.prune_granularity.choices[1]: must be one of {unstructured, kernel, filter}. Got 'channel'",
    ),
    ("space.yaml", lambda t: t + "  dropout: 0.5\n", "variables.dropout: is not a known variable"),
    (
        "space.yaml",
        lambda t: t.replace("{type: int, low: 0, high: 1}", "{type: float, low: 0, high: 1}"),
        "variables.finetune_epochs.type: must be one of {int, categorical}. Got 'float'",
    ),
    (
        "space.yaml",
        lambda t: t.replace("choices: [4, 8, 32]", "{type: int}").replace(
            "{type: categorical, {type: int}}", "{type: int, low: 2, high: 32}"
        ),
        "the range [2, 32] includes 9",
    ),
]


@pytest.mark.parametrize("target,edit,expected", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_exits_2_and_creates_nothing(tmp_path, capsys, target, edit, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    path = tmp_path / target
    path.write_text(edit(path.read_text()))
    code = main(["search", str(study), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    # the message starts with the file that holds the problem, then the key path
    file, key = str(path), expected.split(":")[0]
    line = err.strip().removeprefix("error: ")
    assert line.startswith(f"{file}: "), (file, line)
    if expected.startswith(("variables.", "budget.", "objectives", "driver.", "model.")):
        assert line.startswith(f"{file}: {key}: "), (key, line)
    assert not study.with_suffix(".db").exists()
    assert not (tmp_path / "cache").exists()


def test_bad_command_line_values(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    assert main(["search", str(study), "--n-trials", "0"]) == 2
    assert "--n-trials: must be an int >= 1. Got 0" in capsys.readouterr().err
    assert main(["search", str(study), "--storage", "not-a-url"]) == 2
    assert "--storage: must be an Optuna storage URL" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "missing.yaml")]) == 2
    assert "study file not found" in capsys.readouterr().err
    assert not study.with_suffix(".db").exists()


def test_status_of_a_study_never_searched(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    assert main(["status", str(study)]) == 2
    err = capsys.readouterr().err
    assert "no such study database" in err and "run `moo-compress search` first" in err
    assert not study.with_suffix(".db").exists(), "a read-only command created the database"
