"""The evaluator interface: every evaluator implements it, a fidelity view is an evaluator of
the same class built on a subset, and the old import paths still work (with a warning)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from moo_compress.evaluation import EVALUATORS
from moo_compress.evaluation.base import BaseEvaluator, ModelEvaluator
from moo_compress.evaluation.table import TableEvaluator
from tests.conftest import write_study


@pytest.mark.parametrize("task", EVALUATORS.names())
def test_every_registered_evaluator_implements_the_model_evaluator_interface(task):
    cls = EVALUATORS.get(task)
    assert issubclass(cls, ModelEvaluator)
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)


def test_the_table_implements_the_search_interface_with_the_same_signatures():
    assert issubclass(TableEvaluator, BaseEvaluator) and not inspect.isabstract(TableEvaluator)
    classification = EVALUATORS.get("classification")
    for name in ("prepare", "arch_of", "baseline_values", "evaluate", "evaluate_rung"):
        expected = inspect.signature(getattr(BaseEvaluator, name))
        for cls in (TableEvaluator, classification):
            assert inspect.signature(getattr(cls, name)) == expected, (cls.__name__, name)


def test_an_evaluator_missing_a_method_cannot_be_built():
    class Partial(BaseEvaluator):
        def prepare(self, archs):
            pass

        def arch_of(self, config):
            return "mlp"

    with pytest.raises(TypeError, match="baseline_values"):
        Partial()


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory, shared_cache):
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    study = write_study(tmp_path_factory.mktemp("interface"), cache_dir=shared_cache)
    cfg = load_study_config(study)
    return make_evaluator(cfg.evaluation(), cfg.cache_dir)


def test_a_fidelity_view_is_an_evaluator_on_the_subset_sharing_the_baselines(evaluator):
    from moo_compress.artifact import decode_model
    from moo_compress.training import predict

    fidelity = {"corruptions": ["contrast"], "severities": [3], "images": 60}
    view = evaluator.at_fidelity(fidelity)
    assert type(view) is type(evaluator)
    assert evaluator.at_fidelity(dict(fidelity)) is view  # built once per subset
    assert evaluator.at_fidelity(None) is evaluator
    assert view.baselines is evaluator.baselines
    arch = evaluator.arch["name"]
    assert view.baseline_for(arch) is evaluator.baseline_for(arch)
    assert (view.corruptions, view.severities, view.images) == (["contrast"], [3], 60)

    # the subset is 60 of the evaluator's images, its corrupted copies the same rows
    n = len(evaluator.dataset.y_test)
    rows: list[int] = []
    for x in view.dataset.x_test:  # in order, a repeated image taking its next copy
        same = np.flatnonzero((evaluator.dataset.x_test == x).reshape(n, -1).all(axis=1))
        rows.append(int(same[same > (rows[-1] if rows else -1)][0]))
    assert len(set(rows)) == 60 and rows == sorted(rows)
    np.testing.assert_array_equal(view.dataset.y_test, evaluator.dataset.y_test[rows])
    at3 = np.asarray(rows) + 2 * n
    np.testing.assert_array_equal(
        view.corrupted["contrast"][2 * 60 : 3 * 60], evaluator.corrupted["contrast"][at3]
    )

    # its reference is measured on the same subset, by the same model
    baseline = evaluator.baseline_for(arch)
    pred = predict(baseline, evaluator.corrupted["contrast"][at3]).argmax(1).numpy()
    expected_error = float((pred != evaluator.dataset.y_test[rows]).mean())
    assert view.reference_for(arch).corruption_errors == {"contrast": [expected_error]}

    # the baseline's values on the subset are those of the view, through the interface
    assert evaluator.baseline_values(arch, fidelity=fidelity) == view.baseline_values(arch)
    model, _ = decode_model(evaluator.baseline_path_for(arch).read_bytes())
    clean = predict(model, view.dataset.x_test).argmax(1).numpy()
    assert view.baseline_values(arch)["accuracy"] == pytest.approx(
        100.0 * float((clean == view.dataset.y_test).mean())
    )


def test_model_measurements_provide_everything_objectives_read(evaluator):
    from moo_compress.objectives.base import Measurements

    arch = evaluator.arch["name"]
    data = evaluator.baseline_path_for(arch).read_bytes()
    m = evaluator.measurements_class(evaluator, evaluator.baseline_for(arch), data)
    members = set(Measurements.__annotations__) | {
        n
        for n, v in vars(Measurements).items()
        if not n.startswith("_") and (callable(v) or isinstance(v, property))
    }
    assert members >= {"model", "reference", "clean_accuracy", "corruption_errors", "attack"}
    missing = [n for n in sorted(members) if not hasattr(m, n)]
    assert missing == []


def test_old_import_paths_work_with_a_deprecation_warning():
    from moo_compress.evaluation import classification, measurements

    with pytest.warns(DeprecationWarning, match="moved"):
        from moo_compress.evaluation.base import Evaluator
    assert Evaluator is classification.ClassificationEvaluator
    with pytest.warns(DeprecationWarning, match="ModelMeasurements"):
        from moo_compress.evaluation import Measurements
    assert Measurements is measurements.ModelMeasurements
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from moo_compress.evaluation import Evaluator as short

    assert short is classification.ClassificationEvaluator
