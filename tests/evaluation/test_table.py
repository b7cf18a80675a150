"""The tabular replay's cost accounting (issue 22): a configuration promoted to the top rung
is charged exactly what one full evaluation costs."""

from __future__ import annotations

import dataclasses

import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.drivers.mo_asha import MoAshaDriver
from moo_compress.evaluation.table import fidelity_id, full_evaluation_shares
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
