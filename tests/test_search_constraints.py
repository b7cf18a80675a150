"""Constraints in a search, with every driver: infeasible trials are stored with their
violation, stay out of the archive and the hypervolume, and Optuna's own tools see them.

The drivers run unchanged against a table of synthetic evaluations
(:class:`~moo_compress.evaluation.table.TableEvaluator`), so each search takes a moment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from moo_compress import record
from moo_compress.archive import normalized_hypervolume, pareto_indices
from moo_compress.config import load_study_config
from moo_compress.drivers import DRIVER_INFO
from moo_compress.evaluation.table import TableEvaluator, TableMiss
from moo_compress.replay import STOPPED, hypervolume_curve, replay
from moo_compress.settings.bounds import study_bounds
from tests.conftest import write_study

BASELINE = {"accuracy": 96.0, "cr": 1.0, "mce": 100.0, "proxy_purity": 1.0}


def _table(space) -> TableEvaluator:
    """A made-up but structured landscape: pruning and coarse quantization raise CR and
    cost accuracy; the values depend on every variable."""
    rows, seconds = {}, {}
    names = [v.name for v in space.searched]
    for point in itertools.product(*(v.grid_values() for v in space.searched)):
        config = space.full_config(dict(zip(names, point, strict=True)))
        key = space.config_key(config)
        p = config.get("prune_ratio", 0.0)
        bits = config.get("quant_bits", 32)
        clusters = config.get("cluster_count", 0)
        ft = config.get("finetune_epochs", 0)
        filt = config.get("prune_granularity") == "filter"
        acc = 96.0 - 12 * p**2 * (1.5 if filt else 1.0) - (6.0 if bits == 4 else 0.0) + 1.5 * ft
        acc -= 2.0 if clusters == 8 else 0.0
        cr = (1 + 8 * p) * (32 / bits) * (1.4 if clusters else 1.0)
        rows[key] = {
            "accuracy": acc,
            "cr": cr,
            "mce": 100 + 40 * p - 3 * ft + (10 if bits == 4 else 0),
            "proxy_purity": 1.0 + 0.01 * (96 - acc),
        }
        seconds[key] = 1.0 + ft
    return TableEvaluator(rows, seconds, baseline=BASELINE)


CONSTRAINTS = "constraints:\n  accuracy: {max_drop: 3.0}\n  cr: '>= 4'\n"


@pytest.mark.parametrize("driver", list(DRIVER_INFO))
def test_every_driver_keeps_infeasible_trials_out_of_the_archive(tmp_path, driver):
    cfg = load_study_config(write_study(tmp_path, driver=driver, n_trials=16, extra=CONSTRAINTS))
    table = _table(cfg.space)
    study = replay(cfg, table)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 16
    labels = ["accuracy max_drop 3", "cr >= 4"]
    feasible = []
    for t in complete:
        values = record.objectives(t)
        stored = record.constraints(t)
        assert list(stored) == labels
        expected = [BASELINE["accuracy"] - values["accuracy"] - 3.0, 4.0 - values["cr"]]
        assert list(stored.values()) == pytest.approx(expected)
        assert record.violation(t) == pytest.approx(sum(max(0.0, v) for v in expected))
        assert record.is_feasible(t) == all(v <= 0 for v in expected)
        # where Optuna's own tools look for them
        assert list(t.constraints.values()) == pytest.approx(expected)
        if record.is_feasible(t):
            feasible.append(t)
    assert 0 < len(feasible) < len(complete), "the constraint must cut the trials in two"
    # the hypervolume history is the feasible archive's, after every evaluation
    values = np.array([t.values for t in feasible])
    # normalized over the bounds derived from the constraints (accuracy [93, 100], cr [4, 50])
    bounds = study_bounds(cfg, lambda arch: BASELINE)
    assert bounds[:2] == [(93.0, 100.0), (4.0, 50.0)]
    hv = normalized_hypervolume(values, cfg.directions, bounds)
    history = [v for k, v in sorted(study.user_attrs.items()) if k.startswith("hv/")]
    assert history[-1]["n_complete"] == 16
    assert history[-1]["hv"] == pytest.approx(hv)
    assert history[-1]["archive_size"] == len(pareto_indices(values, cfg.directions))
    assert hypervolume_curve(study, cfg.directions, bounds)[-1] == pytest.approx(hv)
    # Optuna's best_trials leaves infeasible trials out, whichever driver ran the study
    assert {t.number for t in study.best_trials} <= {t.number for t in feasible}


def test_without_constraints_nothing_is_recorded(tmp_path):
    cfg = load_study_config(write_study(tmp_path, driver="optuna-random", n_trials=6))
    study = replay(cfg, _table(cfg.space))
    for t in study.trials:
        assert record.constraints(t) == {} and record.is_feasible(t)
        assert t.constraints == {}


def _feasible_shares(tmp_path, drivers, n_trials: int, seeds: int) -> dict[str, float]:
    """Median share of feasible completed trials per driver, with a constraint only a few
    configurations of the table meet."""
    extra = "constraints:\n  accuracy: {max_drop: 1.0}\n  cr: '>= 6'\n"
    cfg = load_study_config(
        write_study(tmp_path, driver="optuna-random", n_trials=n_trials, extra=extra)
    )
    table = _table(cfg.space)
    share = {}
    for driver in drivers:
        counts = []
        for seed in range(seeds):
            study = replay(cfg, table, seed=seed, driver=driver)
            done = [t for t in study.trials if t.state.name == "COMPLETE"]
            counts.append(sum(record.is_feasible(t) for t in done) / len(done))
        share[driver] = float(np.median(counts))
    return share


def test_optunas_samplers_prefer_feasible_configurations(tmp_path):
    """With a constraint only a few configurations meet, Optuna's TPE and NSGA-II (which read
    the constraint values the trials store) find more feasible ones than random sampling at
    the same budget (median of 5 seeds)."""
    share = _feasible_shares(tmp_path, ("optuna-random", "optuna-tpe", "optuna-nsga2"), 40, 5)
    assert share["optuna-tpe"] > share["optuna-random"], share
    assert share["optuna-nsga2"] > share["optuna-random"], share


def test_the_gp_sampler_prefers_feasible_configurations(tmp_path):
    """``optuna-gp`` (Optuna's GPSampler, which reads the stored constraint values) finds
    more feasible configurations than random sampling at the same budget (20 trials, median
    of 3 seeds; its proposals cost seconds each, so the budget is smaller than above)."""
    share = _feasible_shares(tmp_path, ("optuna-random", "optuna-gp"), 20, 3)
    assert share["optuna-gp"] > share["optuna-random"], share


def test_a_relative_constraint_without_a_baseline_fails_the_trial(tmp_path):
    cfg = load_study_config(
        write_study(tmp_path, driver="optuna-random", n_trials=2, extra=CONSTRAINTS)
    )
    table = _table(cfg.space)
    table.baseline = None
    study = replay(cfg, table)
    assert "trials failed" in study.user_attrs[STOPPED]  # a real search exits 1 here
    reasons = {record.fail_reason(t) for t in study.trials}
    assert reasons == {
        "TableMiss: the table has no baseline values (needed by relative constraints)"
    }
    with pytest.raises(TableMiss):
        table.evaluate({}, "not-a-key")


def test_pymoo_nsga2_is_guided_by_the_values_it_is_told(tmp_path):
    """Generation 0 is random; what NSGA-II proposes after it depends on the stored values
    (a driver told the same thing for every trial would propose the same either way)."""
    cfg = load_study_config(write_study(tmp_path, driver="pymoo-nsga2", n_trials=24))
    table = _table(cfg.space)
    flipped = TableEvaluator(
        {
            k: {**v, "accuracy": 192.0 - v["accuracy"], "cr": 60.0 - v["cr"]}
            for k, v in table.rows.items()
        },
        table.seconds,
    )
    first = [t.params for t in replay(cfg, table).trials]
    second = [t.params for t in replay(cfg, flipped).trials]
    assert first[:4] == second[:4]
    assert first != second
