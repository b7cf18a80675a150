"""Hypervolume bounds derived from the baseline and the constraints (issue 22): the rule of
``moo_compress.settings.bounds`` against hand-computed bounds for every kind of constraint,
stored once with a new study, shown by ``status`` and the report, and used by replays."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

from moo_compress import storage as st
from moo_compress.config import load_study_config
from moo_compress.replay import hypervolume_curve, replay
from moo_compress.report import format_status, status, study_view
from moo_compress.search import SearchSession
from moo_compress.settings import Constraint, ObjectiveSpec
from moo_compress.settings.bounds import constraint_edge, derive_bounds, study_bounds
from tests.conftest import write_study
from tests.test_search_constraints import BASELINE, _table

ACC = ObjectiveSpec("accuracy", "maximize", (0.0, 100.0))
MCE = ObjectiveSpec("mce", "minimize", (0.0, 200.0))
CR = ObjectiveSpec("cr", "maximize", (1.0, 50.0))


def c(objective: str, kind: str, bound: float) -> Constraint:
    return Constraint(objective, kind, bound)


@pytest.mark.parametrize(
    ("objective", "constraints", "baselines", "expected"),
    [
        # maximized: the worst end is the constraint's edge, the best end 100
        (ACC, [c("accuracy", "max_drop", 2.0)], [{"accuracy": 98.25}], (96.25, 100.0)),
        (ACC, [c("accuracy", "max_relative_drop", 0.05)], [{"accuracy": 80.0}], (76.0, 100.0)),
        (ACC, [c("accuracy", "min", 90.0)], [], (90.0, 100.0)),
        # two constraints: the tighter edge; a cap on the better side is the best end
        (
            ACC,
            [c("accuracy", "min", 90.0), c("accuracy", "max_drop", 2.0)],
            [{"accuracy": 98.0}],
            (96.0, 100.0),
        ),
        (ACC, [c("accuracy", "min", 90.0), c("accuracy", "max", 99.0)], [], (90.0, 99.0)),
        # several architectures, relative bound: the loosest edge (no feasible model clipped)
        (
            ACC,
            [c("accuracy", "max_drop", 2.0)],
            [{"accuracy": 98.0}, {"accuracy": 95.0}],
            (93.0, 100.0),
        ),
        # minimized: the best end 0, the worst the edge
        (MCE, [c("mce", "max_relative_increase", 0.1)], [{"mce": 100.0}], (0.0, 110.0)),
        (MCE, [c("mce", "max_increase", 5.0)], [{"mce": 90.0}], (0.0, 95.0)),
        (MCE, [c("mce", "max", 150.0)], [], (0.0, 150.0)),
        (MCE, [c("mce", "max", 150.0), c("mce", "min", 20.0)], [], (20.0, 150.0)),
        # unconstrained (or constrained elsewhere): the default bounds
        (CR, [c("accuracy", "min", 90.0)], [], (1.0, 50.0)),
        # an edge at the best value reachable: nothing to normalize over, the default bounds
        (ACC, [c("accuracy", "min", 100.0)], [], (0.0, 100.0)),
        # a relative decrease below a negative baseline: |baseline|
        (
            ObjectiveSpec("x", "maximize", (-10.0, 10.0)),
            [c("x", "max_relative_drop", 0.5)],
            [{"x": -2.0}],
            (-3.0, 10.0),
        ),
    ],
)
def test_derived_bounds_by_hand(objective, constraints, baselines, expected):
    assert derive_bounds(objective, constraints, baselines) == pytest.approx(expected)


def test_an_edge_meets_its_constraint_exactly():
    for kind, bound in [("min", 90), ("max", 3), ("max_drop", 2), ("max_relative_drop", 0.1)]:
        k = c("accuracy", kind, bound)
        assert k.value(constraint_edge(k, 97.0), 97.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="baseline"):
        derive_bounds(ACC, [c("accuracy", "max_drop", 2.0)], [])


def _cfg(tmp_path, extra: str = ""):
    cons = "constraints:\n  accuracy: {max_drop: 3.0}\n  mce: '<= 140'\n"
    cfg = load_study_config(write_study(tmp_path, driver="optuna-random", extra=cons + extra))
    return dataclasses.replace(cfg, cache_dir=tmp_path / "cache")


def test_study_file_bounds_stay_as_given(tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg.unset_bounds == {"accuracy", "cr", "mce", "proxy_purity"}
    # BASELINE accuracy 96: 93 to 100; mce <= 140: 0 to 140; the others their defaults
    expected = [(93.0, 100.0), (1.0, 50.0), (0.0, 140.0), (0.0, 1.5)]
    assert study_bounds(cfg, lambda arch: BASELINE) == expected
    text = (tmp_path / "study.yaml").read_text()
    text = text.replace(
        "{name: accuracy, direction: maximize}",
        "{name: accuracy, direction: maximize, bounds: [50, 100]}",
    )
    (tmp_path / "study.yaml").write_text(text)
    given = load_study_config(tmp_path / "study.yaml")
    assert given.unset_bounds == {"cr", "mce", "proxy_purity"}
    assert study_bounds(given, lambda arch: BASELINE)[0] == (50.0, 100.0)
    # the fingerprint covers the objectives as before: existing studies resume
    assert given.fingerprint() != cfg.fingerprint()


def test_bounds_are_stored_once_and_shown(tmp_path):
    cfg = _cfg(tmp_path)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    cfg = dataclasses.replace(cfg, storage=url, n_trials=6)
    table = _table(cfg.space)
    bounds = study_bounds(cfg, table.baseline_values)
    study = st.create_or_load(cfg, url, bounds=bounds)
    meta = st.study_meta(study.user_attrs)
    assert st.hypervolume_bounds(meta) == [(93.0, 100.0), (1.0, 50.0), (0.0, 140.0), (0.0, 1.5)]
    assert st.bounds_sources(meta) == ["derived", "default", "derived", "default"]
    from moo_compress.drivers import DRIVERS

    session = SearchSession(cfg, study, table, show_progress=False)
    assert session.bounds == st.hypervolume_bounds(meta)
    DRIVERS.get(cfg.driver)(cfg).run(session, interrupted=[])
    session.record_hypervolume()
    # resumed with another baseline: the stored bounds, written once, stay
    table.baseline = {**BASELINE, "accuracy": 50.0}
    again = st.create_or_load(cfg, url, bounds=study_bounds(cfg, table.baseline_values))
    resumed = SearchSession(cfg, again, table, show_progress=False)
    assert resumed.bounds == session.bounds
    assert resumed.archive.hypervolume() == pytest.approx(session.archive.hypervolume())
    view = study_view(again, st.study_meta(again.user_attrs))
    assert view.bounds == session.bounds
    s = status(view, again)
    assert s["hypervolume"] == pytest.approx(session.archive.hypervolume())
    assert "hv bounds   accuracy [93, 100] (derived), cr [1, 50] (default)" in format_status(s)
    # a study made before the bounds were stored keeps the objectives' bounds it was made with
    old = {k: v for k, v in meta.items() if k != "hv_bounds"}
    assert st.hypervolume_bounds(old) == [(0.0, 100.0), (1.0, 50.0), (0.0, 200.0), (0.0, 1.5)]


def test_a_replay_uses_the_derived_bounds(tmp_path):
    cfg = _cfg(tmp_path)
    table = _table(cfg.space)
    study = replay(cfg, table, seed=1, n_trials=8)
    history = st.hv_history(study)
    derived = study_bounds(cfg, table.baseline_values)
    curve = hypervolume_curve(study, cfg.directions, derived)
    assert history[-1]["hv"] == pytest.approx(curve[-1])
    default = hypervolume_curve(study, cfg.directions, [o.bounds for o in cfg.objectives])
    assert curve[-1] > 0 and curve[-1] != pytest.approx(default[-1])
    assert isinstance(study, optuna.Study)


def test_without_a_baseline_value_a_relative_constraint_keeps_the_default_bounds(tmp_path):
    # every model fails such a constraint (test_search_constraints): nothing to normalize
    cfg = _cfg(tmp_path)
    table = _table(cfg.space)
    table.baseline = None
    assert study_bounds(cfg, table.baseline_values)[0] == (0.0, 100.0)
    assert study_bounds(cfg, lambda arch: {"cr": 1.0})[0] == (0.0, 100.0)
    assert study_bounds(cfg)[2] == (0.0, 140.0)  # an absolute bound needs no baseline
