"""The tabular replay's cost accounting (issue 22): a configuration promoted to the top rung
is charged exactly what one full evaluation costs."""

from __future__ import annotations

import dataclasses

import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.drivers.mo_asha import MoAshaDriver
from moo_compress.evaluation.table import TableEvaluator, fidelity_id, full_evaluation_shares
from tests.drivers.test_mo_asha import _run, _study
from tests.test_search_constraints import _table

# medians of benchmarks/results/multi_fidelity_costs.json: build 0.192, build + rung 0 0.214,
# top rung 0.757 of a full evaluation: timed apart, they add up to 0.971
BUILD, RUNG0, TOP = 0.1922968403543228, 0.214442770646669, 0.7569503083120854


def _measured(low: list[str], high: list[str]) -> dict[str, float]:
    out = {"build": BUILD}
    out.update({o: (RUNG0 - BUILD) / len(low) for o in low})
    out.update({o: TOP / len(high) for o in high})
    return out


def test_full_evaluation_shares_add_up_to_one():
    raw = _measured(["accuracy", "cr"], ["mce", "proxy_purity"])
    assert sum(raw.values()) == pytest.approx(0.9713934, abs=1e-6)  # the 3 % discount
    fid = fidelity_id({"corruptions": ["contrast"], "severities": [3], "images": None})
    scaled = full_evaluation_shares({**raw, f"mce|{fid}": 0.0194})
    assert sum(v for k, v in scaled.items() if "|" not in k) == pytest.approx(1.0, abs=1e-12)
    # every part keeps its proportion; a subset measurement is extra, on the same clock
    assert scaled["build"] == pytest.approx(BUILD / 0.9713934, rel=1e-6)
    assert scaled[f"mce|{fid}"] == pytest.approx(0.0194 / 0.9713934, rel=1e-6)
    with pytest.raises(ValueError, match=">= 0"):
        full_evaluation_shares({"build": -0.1, "accuracy": 1.0})
    with pytest.raises(ValueError, match="more than 0"):
        full_evaluation_shares({"build": 0.0})


def test_a_promoted_configuration_costs_exactly_one_full_evaluation(tmp_path):
    cfg = load_study_config(_study(tmp_path, ", eta: 2, sampler: random", "", 4))
    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    driver = MoAshaDriver(cfg)
    table = _table(cfg.space)
    table.shares = full_evaluation_shares(_measured(driver.to_measure(0), driver.to_measure(1)))
    study = _run(cfg, table)
    spent: dict[str, float] = {}
    for t in study.trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            key = record.config_key(t)
            spent[key] = spent.get(key, 0.0) + record.evaluation_seconds(t)
    promoted = {record.config_key(t) for t in study.trials if t.state == TrialState.COMPLETE}
    assert len(promoted) == 4
    for key in promoted:  # rung 0 (build + cheap objectives) + top rung = the table's seconds
        assert spent[key] == pytest.approx(table.seconds[key], rel=1e-12)
    stopped = set(spent) - promoted
    assert stopped
    for key in stopped:  # a configuration stopped at rung 0 pays rung 0's share only
        assert spent[key] == pytest.approx(table.seconds[key] * RUNG0 / 0.9713934, rel=1e-6)


EPOCH_SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.1}
  quant_bits: {type: categorical, choices: [4, 8, 32]}
  finetune_epochs: 8
"""
STAGES, EPOCH, MEASURE = 2.0, 0.5, 0.1  # seconds: the stages, one epoch, one objective


def _curves(space) -> TableEvaluator:
    """Learning curves at 1, 3 and 8 epochs: accuracy rises with the epochs; building to e
    epochs pausing at every rung costs the stages, e epochs and 0.25 s per pause."""
    import itertools

    base = _table(space)
    curves = {}
    names = [v.name for v in space.searched]
    for point in itertools.product(*(v.grid_values() for v in space.searched)):
        key = space.config_key(space.full_config(dict(zip(names, point, strict=True))))
        row = base.rows[key]
        curves[key] = {
            e: {
                "values": {**row, "accuracy": row["accuracy"] - (8 - e) * 0.5},
                "build_seconds": STAGES + e * EPOCH + 0.25 * i,
                "measure_seconds": dict.fromkeys(row, MEASURE),
            }
            for i, e in enumerate((1, 3, 8))
        }
        curves[key][8]["scratch_seconds"] = STAGES + 8 * EPOCH
    rows = {k: c[8]["values"] for k, c in curves.items()}
    seconds = {k: STAGES + 8 * EPOCH + 4 * MEASURE for k in curves}
    return TableEvaluator(rows, seconds, baseline=base.baseline, curves=curves)


def test_epoch_rungs_are_charged_what_continuing_the_run_costs(tmp_path):
    from moo_compress.evaluation.table import TableMiss

    path = _study(
        tmp_path,
        ", eta: 2, sampler: random, rungs: [{finetune_epochs: 1}, {finetune_epochs: 3}]",
        "",
        3,
    )
    (tmp_path / "space.yaml").write_text(EPOCH_SPACE)
    cfg = dataclasses.replace(load_study_config(path), cache_dir=tmp_path / "cache")
    table = _curves(cfg.space)
    study = _run(cfg, table)
    by_key: dict[str, list] = {}
    for t in study.trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            by_key.setdefault(record.config_key(t), []).append(t)
    four = 4 * MEASURE
    for key, trials in by_key.items():
        rungs = [record.rung(t)["rung"] for t in trials]
        spent = [record.evaluation_seconds(t) for t in trials]
        # rung 0 builds to 1 epoch; each promotion continues the run to its epochs
        expected = [STAGES + EPOCH + four, 2 * EPOCH + 0.25 + four, 5 * EPOCH + 0.25 + four]
        assert spent == pytest.approx(expected[: len(rungs)], rel=1e-12)
        assert rungs == list(range(len(rungs)))
        values = [record.objectives(t)["accuracy"] for t in trials]
        assert (
            values == [table.curves[key][e]["values"]["accuracy"] for e in (1, 3, 8)][: len(rungs)]
        )
    assert sum(1 for t in study.trials if t.state == TrialState.COMPLETE) == 3
    assert not list((cfg.cache_dir / "artifacts").glob("*.ckpt"))  # the budget is met
    # a full evaluation from the table costs one uninterrupted build; a missing point is a miss
    key, config = next(iter(table.curves)), {}
    full = table.evaluate_rung(config, key)
    assert full.seconds == pytest.approx(STAGES + 8 * EPOCH + four)
    with pytest.raises(TableMiss, match="at 2 epochs"):
        table.evaluate_rung(config, key, finetune_epochs=2)
