"""One table of cases every registered plugin must pass (as Optuna's shared sampler tests):
every entry imports and has its metadata, the same seed gives the same result, and a bad
setting gives the one-line error. Objectives, techniques, corruptions and drivers."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from moo_compress.cli import main
from moo_compress.compression.params import PARAMETERS, TECHNIQUES, resolve
from moo_compress.corruptions import CORRUPTIONS, STANDARD
from moo_compress.drivers import DRIVER_OPTIONS, DRIVERS
from moo_compress.objectives import OBJECTIVE_INFO, OBJECTIVES, task_objectives
from moo_compress.space import SearchSpace
from tests.conftest import write_study

CLASSIFICATION_OBJECTIVES = task_objectives("classification")


def test_every_registry_entry_imports_and_names_agree_across_tables():
    from moo_compress.compression.params import TECHNIQUES
    from moo_compress.compression.pipeline import POST_TRAINING, STAGES
    from moo_compress.compression.pruning import PRUNE_METHODS
    from moo_compress.data import DATASETS
    from moo_compress.evaluation import EVALUATORS
    from moo_compress.models import ARCHITECTURES
    from moo_compress.objectives import TASKS

    tables = (
        OBJECTIVES,
        DRIVERS,
        CORRUPTIONS,
        PRUNE_METHODS,
        DATASETS,
        ARCHITECTURES,
        EVALUATORS,
        STAGES,
    )
    for registry in tables:
        for name in registry.names():
            assert callable(registry.get(name)), (registry.kind, name)
    assert set(OBJECTIVES.names()) == set(OBJECTIVE_INFO)
    for info in OBJECTIVE_INFO.values():
        assert info.default_direction in ("maximize", "minimize")
        assert info.bounds[0] < info.bounds[1] and info.unit and info.tasks
    assert set(DRIVERS.names()) == set(DRIVER_OPTIONS)
    assert set(PRUNE_METHODS.names()) == set(PARAMETERS["prune_method"].choices)
    assert set(STANDARD) <= set(CORRUPTIONS.names()) and len(STANDARD) == 15
    assert set(EVALUATORS.names()) == set(TASKS)  # every task is evaluated by one entry
    # every technique switches each stage of the table on or off; post-training stages are
    # stages
    assert {len(stages) for _, stages in TECHNIQUES.values()} == {len(STAGES.names())}
    assert set(POST_TRAINING) <= set(STAGES.names())


def test_every_architecture_is_one_entry_of_a_known_task():
    from moo_compress.models import DETECTORS, MODEL_INFO, task_architectures
    from moo_compress.objectives import TASKS

    names = [m.name for m in MODEL_INFO]
    assert len(set(names)) == len(names)
    for m in MODEL_INFO:
        assert m.task in TASKS, m
        assert m.name in task_architectures(m.task), m
        assert (m.name in DETECTORS) == (m.task == "detection"), m


def test_every_dataset_describes_itself_in_one_table():
    from moo_compress._utils.registry import import_target
    from moo_compress.data import DATASET_INFO, DATASETS, REQUIRED, task_datasets
    from moo_compress.objectives import TASKS

    assert set(DATASETS.names()) == set(task_datasets("classification"))
    assert {d for t in TASKS for d in task_datasets(t)} == set(DATASET_INFO)
    for info in DATASET_INFO.values():
        assert callable(import_target(info.target)), info.name
        if info.check:
            assert callable(import_target(info.check)), info.name
        for opt in info.options:
            assert opt.kind in ("number", "integer", "string", "path"), (info.name, opt)
            if opt.default is not REQUIRED and opt.default is not None and opt.low is not None:
                assert opt.low <= opt.default <= opt.high, (info.name, opt)


@pytest.mark.parametrize(
    "dataset,expected",
    [
        (
            "{name: shapes, image_size: 60}",
            "dataset.image_size: must be a multiple of 8 (the detector's coarsest stride). Got 60 instead.",
        ),
        (
            "{name: coco, root: .}",
            "dataset.train: must name a split with annotations/instances_<split>.json under",
        ),
        ("{name: shapes, test_fraction: 0.3}", "dataset.test_fraction: is not a known key"),
        ("{name: shapes, corrupted_root: x}", "dataset.corrupted_root: is not a known key"),
        ("{name: digits}", "dataset.name: must be one of {shapes, coco}. Got 'digits'"),
    ],
)
def test_a_detection_dataset_section_is_checked_from_the_table(tmp_path, capsys, dataset, expected):
    study = tmp_path / "det.yaml"
    study.write_text(
        "study: {name: det, task: detection}\n"
        f"dataset: {dataset}\n"
        "search_space: space.yaml\nobjectives: [map]\nbudget: {n_trials: 1}\n"
    )
    (tmp_path / "space.yaml").write_text(
        "variables:\n  prune_ratio: {type: float, low: 0.0, high: 0.5}\n"
    )
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not (tmp_path / "det.db").exists()


# -- objectives -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def measured_twice(tmp_path_factory):
    """Every classification objective of one compressed model, measured by two evaluators
    prepared independently from the same study (same seed)."""
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    folder = tmp_path_factory.mktemp("objectives")
    study = write_study(folder, cache_dir=folder / "cache", extra="adversarial: {n_images: 64}\n")
    cfg = load_study_config(study)
    spec = {**cfg.evaluation_spec(), "record": CLASSIFICATION_OBJECTIVES}
    config = resolve({"prune_ratio": 0.5, "quant_bits": 4, "finetune_epochs": 1})
    key = SearchSpace.config_key(config)
    results = [make_evaluator(spec, cfg.cache_dir).evaluate(config, key) for _ in range(2)]
    return results


@pytest.mark.parametrize("name", CLASSIFICATION_OBJECTIVES)
def test_every_objective_is_finite_in_bounds_and_repeats_with_the_seed(name, measured_twice):
    a, b = (r.values[name] for r in measured_twice)
    assert math.isfinite(a)
    info = OBJECTIVE_INFO[name]
    if info.kind != "proxy" and name not in ("cr", "mce", "relative_mce", "latency_ms"):
        assert info.bounds[0] <= a <= info.bounds[1], (name, a)
    if name == "latency_ms":  # wall time: the one measurement that does not repeat
        assert a > 0 and b > 0
    else:
        assert a == b, (name, a, b)


@pytest.mark.parametrize("name", CLASSIFICATION_OBJECTIVES)
def test_every_objective_round_trips_through_a_study_file(name, tmp_path, capsys):
    from moo_compress.config import load_study_config

    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    head, _, rest = study.read_text().partition("objectives:\n")
    _, _, tail = rest.partition("driver:")
    other = "cr" if name != "cr" else "accuracy"

    def block(direction: str) -> str:
        return (
            f"objectives:\n  - {{name: {name}, direction: {direction}}}\n"
            f"  - {{name: {other}, direction: maximize}}\ndriver:"
        )

    study.write_text(head + block(OBJECTIVE_INFO[name].default_direction) + tail)
    cfg = load_study_config(study)
    assert cfg.objective_names[0] == name
    study.write_text(head + block("up") + tail)
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "objectives[0].direction: must be one of" in err, err
    assert not (tmp_path / "cache").exists()


# -- techniques ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from moo_compress.config import TrainConfig
    from moo_compress.data.digits import load_digits
    from moo_compress.models import ARCHITECTURES
    from moo_compress.training import train

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    base = ARCHITECTURES.get("small_cnn")(num_classes=10, width=0.25)
    ft = TrainConfig(epochs=1, batch_size=64, lr=0.05, momentum=0.9, weight_decay=0.0)
    train(base, ds.x_train[:256], ds.y_train[:256], ft, epochs=1, seed=0)
    return base, ds.x_train[:128], ds.y_train[:128], ds.x_test[:64], ft


@pytest.mark.parametrize("technique", list(TECHNIQUES))
def test_every_technique_is_canonical_and_builds_the_same_model_from_the_same_seed(technique, tiny):
    from moo_compress.artifact import encode_model
    from moo_compress.compression.pipeline import compress
    from moo_compress.training import predict

    base, x, y, x_test, ft = tiny
    config = resolve({"technique": technique, "finetune_epochs": 1})
    assert resolve(config) == config, "canonical form is a fixed point"
    assert config["technique"] == technique
    spec = {"name": "small_cnn", "kwargs": {"num_classes": 10, "width": 0.25}}
    built = [compress(base, config, x_train=x, y_train=y, finetune=ft, seed=7) for _ in range(2)]
    assert torch.equal(predict(built[0], x_test), predict(built[1], x_test))
    blobs = [encode_model(m.cpu(), spec) for m in built]
    assert hashlib.sha256(blobs[0]).digest() == hashlib.sha256(blobs[1]).digest()


def test_a_bad_technique_setting_is_a_one_line_error(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "space.yaml").write_text("variables:\n  technique: [PCQAT + int9]\n")
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "variables.technique" in err


# -- corruptions ---------------------------------------------------------------------------
def test_every_corruption_is_one_entry_and_the_sets_follow_the_paper():
    from moo_compress.corruptions import CORRUPTION_INFO, EXTRA

    # Hendrycks & Dietterich (ICLR 2019), Figure 1 and appendix: the 15 corruptions mCE
    # averages over in the order of their tables, and the 4 held-out ones
    paper = {
        "noise": ["gaussian_noise", "shot_noise", "impulse_noise"],
        "blur": ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"],
        "weather": ["snow", "frost", "fog", "brightness"],
        "digital": ["contrast", "elastic_transform", "pixelate", "jpeg_compression"],
    }
    held_out = {
        "speckle_noise": "noise",
        "gaussian_blur": "blur",
        "spatter": "weather",
        "saturate": "digital",
    }
    assert list(STANDARD) == [n for names in paper.values() for n in names]
    assert list(EXTRA) == list(held_out)
    family = {n: f for f, names in paper.items() for n in names} | held_out
    assert {c.name: c.family for c in CORRUPTION_INFO} == family
    assert CORRUPTIONS.names() == [*STANDARD, *EXTRA]
    for c in CORRUPTION_INFO:
        fn = CORRUPTIONS.get(c.name)
        assert fn.__module__ == f"moo_compress.corruptions.{c.family}", c


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_every_corruption_repeats_with_its_seed_and_refuses_a_bad_severity(name):
    from moo_compress.corruptions.suite import corrupt_images

    # colour images (grey ones are unchanged by saturate)
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    for severity in (1, 5):
        a = corrupt_images(images, name, severity, seed=3)
        b = corrupt_images(images, name, severity, seed=3)
        assert a.dtype == np.uint8 and a.shape == images.shape
        assert np.array_equal(a, b), (name, severity)
        assert not np.array_equal(a, images), (name, severity)
    with pytest.raises((ValueError, KeyError, IndexError)) as err:
        corrupt_images(images, name, 6, seed=3)
    assert "\n" not in str(err.value).strip()


# -- drivers -------------------------------------------------------------------------------
class TableEvaluator:
    """A deterministic, instant stand-in for the evaluator: objectives are functions of the
    configuration, so a driver's proposals are all that differs between runs."""

    def __init__(self, spec, cache_dir, **kwargs):
        self.spec = spec

    def prepare(self, archs):
        pass

    def evaluate(self, config, key):
        from moo_compress.compression.pipeline import technique_name
        from moo_compress.evaluation import TrialResult

        u = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32
        p, bits = config["prune_ratio"], config["quant_bits"]
        values = {
            "accuracy": 99.0 - 30 * p**3 - (4.0 if bits <= 4 else 0.0) - u,
            "cr": (1 + 9 * p) * 32 / bits,
            "mce": 100.0 + 40 * p + 10 * u,
            "proxy_purity": 0.9 + 0.1 * u,
        }
        return TrialResult(values, {}, technique_name(config), key.encode(), 0.0)

    def evaluate_rung(self, config, key, *, objectives=None, fidelity=None, artifact=None):
        result = self.evaluate(config, key)
        result.values = {k: v for k, v in result.values.items() if k in (objectives or k)}
        return result


def _trials(study_path):
    from moo_compress.config import load_study_config
    from moo_compress.storage import load_existing

    cfg = load_study_config(study_path)
    study = load_existing(cfg, f"sqlite:///{study_path.with_suffix('.db')}")
    return [(t.state.name, t.user_attrs.get("config_key"), t.values) for t in study.trials]


@pytest.mark.parametrize("driver", DRIVERS.names())
def test_every_driver_proposes_the_same_trials_from_the_same_seed(driver, tmp_path, monkeypatch):
    import moo_compress.evaluation

    monkeypatch.setattr(moo_compress.evaluation, "make_evaluator", TableEvaluator)
    runs = []
    for run in ("a", "b"):
        study = write_study(tmp_path / run, driver=driver, n_trials=10, cache_dir=tmp_path / "c")
        assert main(["search", str(study), "--no-progress"]) == 0
        runs.append(_trials(study))
    assert runs[0] == runs[1]
    complete = [t for t in runs[0] if t[0] == "COMPLETE"]
    assert len(complete) == 10 and len({t[1] for t in complete}) == 10


@pytest.mark.parametrize("driver", DRIVERS.names())
def test_every_driver_refuses_a_bad_option_in_one_line(driver, tmp_path, capsys):
    study = write_study(tmp_path, driver=driver, cache_dir=tmp_path / "cache")
    text = study.read_text()
    head, _, tail = text.partition(f"driver: {{name: {driver}")
    _, _, rest = tail.partition("}")
    if DRIVER_OPTIONS[driver]:
        option, (_, minimum) = next(iter(DRIVER_OPTIONS[driver].items()))
        bad = f"{option}: {minimum - 1}"
    else:  # a driver without options refuses any
        option, bad = "population_size", "population_size: 4"
    study.write_text(f"{head}driver: {{name: {driver}, {bad}}}{rest}")
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"driver.{option}" in err, err
    assert not study.with_suffix(".db").exists() and not (tmp_path / "cache").exists()
