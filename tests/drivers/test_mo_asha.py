"""The multi-fidelity driver (mo-asha): its ladder settings, the promotion rule, resume
equality, constraints per rung, and a real search whose top rung stores exactly what a full
evaluation of the same configuration measures."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress.config import load_study_config
from moo_compress.drivers.mo_asha import MoAshaDriver, promotion_order
from moo_compress.errors import ConfigError
from moo_compress.search import SearchSession
from tests.conftest import write_study
from tests.test_search_constraints import _table

RECORD = "record: [accuracy, cr, mce, proxy_purity]\n"


def _study(tmp_path, driver_extra: str = "", extra: str = "", n_trials: int = 6):
    path = write_study(tmp_path, driver="mo-asha", n_trials=n_trials, extra=RECORD + extra)
    text = path.read_text().replace(
        "driver: {name: mo-asha}", "driver: {name: mo-asha" + driver_extra + "}"
    )
    path.write_text(text)
    return path


def test_promotion_order_is_feasibility_then_rank_then_crowding_then_number():
    # minimize both; 0-3 are one front, 4 is dominated, 5 is infeasible but best
    values = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 2.0], [4.0, 0.0], [3.0, 3.0], [-1, -1]])
    violation = np.array([0, 0, 0, 0, 0, 0.5])
    numbers = np.arange(6)
    order = promotion_order(values, violation, numbers)
    # boundary points (infinite crowding) first, by number; then 2 (crowding 1.5) before
    # 1 (1.0); the infeasible point is last although it dominates every other
    assert order[:2] == [0, 3]
    assert order[2:4] == [2, 1]
    assert order[4:] == [4, 5]
    # among infeasible ones the smaller violation first
    assert promotion_order(values[:2], np.array([2.0, 1.0]), numbers[:2]) == [1, 0]


def test_the_default_ladder_measures_what_needs_no_corrupted_images(tmp_path):
    cfg = load_study_config(_study(tmp_path))
    opts = cfg.driver_options
    assert opts["sampler"] == "tpe" and opts["eta"] == 3
    assert opts["rungs"] == [
        {
            "objectives": ["accuracy", "cr", "proxy_purity"],
            "corruptions": None,
            "severities": None,
            "images": None,
            "exact": ["accuracy", "cr", "proxy_purity"],
        }
    ]
    driver = MoAshaDriver(cfg)
    assert driver.to_measure(0) == ["accuracy", "cr", "proxy_purity"]
    assert driver.to_measure(1) == ["mce"]  # the rest is reused, never measured again


@pytest.mark.parametrize(
    ("driver_extra", "key", "says"),
    [
        (", sampler: cmaes", "driver.sampler", "must be one of {random, tpe, nsga2}"),
        (", eta: 1", "driver.eta", "must be"),
        (", rungs: [{objectives: [latency_ms]}]", "driver.rungs[0].objectives", "recorded"),
        (", rungs: [{corruptions: [fog]}]", "driver.rungs[0].corruptions", "of the study"),
        (", rungs: [{severities: [2]}]", "driver.rungs[0].severities", "of the study"),
        (", rungs: [{images: 3}]", "driver.rungs[0].images", "in [10, "),
        (", rungs: [{objectives: [accuracy, cr, mce, proxy_purity]}]", "rungs[0]", "cheaper"),
        (", rungs: []", "driver.rungs", "1 to 8 rungs"),
        (", rungs: [{objective: [cr]}]", "driver.rungs[0].objective", "not a known key"),
        (", step: 2", "driver.step", "not a known key"),
    ],
)
def test_a_bad_ladder_is_refused_with_its_key(tmp_path, driver_extra, key, says):
    with pytest.raises(ConfigError) as err:
        load_study_config(_study(tmp_path, driver_extra))
    assert key in str(err.value) and says in str(err.value), str(err.value)


def _run(cfg, table, storage=None, *, fail_at: int | None = None):
    """Run mo-asha on ``table`` (optionally stopping as Ctrl-C would at evaluation
    ``fail_at``); returns the study."""
    storage = storage or optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name=cfg.name, storage=storage, directions=cfg.directions, load_if_exists=True
    )
    calls = []
    if fail_at is not None:
        inner = table.evaluate_rung

        def evaluate_rung(*args, **kwargs):
            calls.append(1)
            if len(calls) == fail_at:
                raise KeyboardInterrupt
            return inner(*args, **kwargs)

        table.evaluate_rung = evaluate_rung
    session = SearchSession(cfg, study, table, show_progress=False)
    try:
        MoAshaDriver(cfg).run(session, interrupted=[])
    except KeyboardInterrupt:
        pass
    finally:
        if fail_at is not None:
            del table.evaluate_rung
    return study


CONSTRAINT = "constraints:\n  accuracy: {max_drop: 3.0}\n  mce: '<= 112'\n"


def test_promotions_follow_the_rule_and_constraints_apply_where_measured(tmp_path):
    cfg = load_study_config(_study(tmp_path, ", eta: 2, sampler: random", CONSTRAINT, 8))
    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    study = _run(cfg, _table(cfg.space))
    trials = sorted(study.trials, key=lambda t: t.number)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 8
    driver = MoAshaDriver(cfg)
    seen = set()
    for t in trials:
        info = record.rung(t)
        if t.state == TrialState.FAIL:
            assert record.fail_reason(t).startswith("duplicate")
            continue
        assert (record.config_key(t), info["rung"]) not in seen, "a rung evaluated twice"
        seen.add((record.config_key(t), info["rung"]))
        assert (t.state == TrialState.COMPLETE) == (info["rung"] == info["top"] == 1)
        labels = list(record.constraints(t))
        # the mce constraint applies only where mce is measured (the top rung)
        assert labels == (
            ["accuracy max_drop 3", "mce <= 112"] if info["rung"] else ["accuracy max_drop 3"]
        )
        if info["promoted_from"] is None:
            continue
        # the promoted configuration was among the best 1/eta of its rung at that moment
        below = [
            e
            for e in driver.entries(_Upto(study, t.number))
            if e.rung == info["rung"] - 1 and e.state == "done"
        ]
        k = len(below) // 2
        names = cfg.objective_names
        known = driver.known(info["rung"] - 1)
        cols = [i for i, n in enumerate(names) if n in known]
        vals = np.array(
            [
                [e.values[names[i]] * (-1 if cfg.directions[i] == "maximize" else 1) for i in cols]
                for e in below
            ]
        )
        order = promotion_order(
            vals, np.array([e.violation for e in below]), np.array([e.number for e in below])
        )
        best = [below[i].number for i in order[:k]]
        assert info["promoted_from"] in best
    # the accuracy constraint cuts rung 0 (so the rule above was checked with infeasible
    # configurations ranked last)
    pruned0 = [t for t in trials if t.state == TrialState.PRUNED and not record.rung(t)["rung"]]
    assert any(not record.is_feasible(t) for t in pruned0)


class _Upto:
    """A study seen as it was before trial ``n`` started (finished trials below n)."""

    def __init__(self, study, n):
        self.study, self.n = study, n

    def get_trials(self, deepcopy=False):
        return [
            t
            for t in self.study.get_trials(deepcopy=False)
            if t.number < self.n and t.datetime_complete
        ]


def test_a_killed_search_resumes_with_the_same_trials_and_archive(tmp_path):
    cfg = load_study_config(_study(tmp_path, ", eta: 2", CONSTRAINT, 6))
    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    table = _table(cfg.space)
    whole = _run(cfg, table)
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    for fail_at in (3, 5, 4):  # stopped three times, resumed each time
        _run(cfg, table, url, fail_at=fail_at)
    _run(cfg, table, url)
    resumed = optuna.load_study(study_name=cfg.name, storage=url)

    def story(study):
        return [
            (record.config_key(t), record.rung(t)["rung"], t.state.name, t.values)
            for t in sorted(study.trials, key=lambda t: t.number)
            if record.fail_reason(t) != record.INTERRUPTED
        ]

    interrupted = [t for t in resumed.trials if record.fail_reason(t) == record.INTERRUPTED]
    assert len(interrupted) == 3
    assert story(resumed)[: len(story(whole))] == story(whole)
    assert len(story(resumed)) == len(story(whole))


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_every_base_sampler_meets_the_budget(tmp_path, sampler):
    cfg = load_study_config(_study(tmp_path, f", sampler: {sampler}", CONSTRAINT, 10))
    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    study = _run(cfg, _table(cfg.space))
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 10


def test_top_rung_stores_exactly_what_a_full_evaluation_measures(tmp_path, shared_cache):
    """A real search: rung 0 builds the model, rung 1 measures mCE on 1 corruption and 60
    images, the top rung reuses the model and the exact values and measures the rest."""
    from moo_compress.evaluation import make_evaluator
    from moo_compress.runner import run_search

    ladder = (
        ", eta: 2, sampler: random, rungs: [{objectives: [accuracy, cr]},"
        " {objectives: [accuracy, cr, mce], corruptions: [contrast], images: 60}]"
    )
    path = _study(tmp_path, ladder, "constraints:\n  accuracy: {max_drop: 30.0}\n", 2)
    text = path.read_text() + f"cache_dir: {shared_cache}\n"
    path.write_text(text)
    cfg = load_study_config(path)
    summary = run_search(cfg, show_progress=False, log=lambda m: None)
    assert summary["complete"] == 2
    from moo_compress import storage as st

    study = optuna.load_study(study_name=cfg.name, storage=st.storage_url(cfg))
    by_number = {t.number: t for t in study.trials}
    evaluator = make_evaluator(cfg.evaluation(), cfg.cache_dir)
    for t in study.trials:
        if t.state != TrialState.COMPLETE:
            continue
        config, key = record.config(t), record.config_key(t)
        full = evaluator.evaluate(config, key)
        assert record.objectives(t) == pytest.approx(full.values, abs=1e-12)
        # the same model all the way up: rung 0 built it, the others loaded it
        chain, n = [], t.number
        while n is not None:
            chain.append(by_number[n])
            n = record.rung(by_number[n])["promoted_from"]
        assert [record.rung(c)["rung"] for c in chain] == [2, 1, 0]
        shas = {record.result(c)["artifact_sha256"] for c in chain}
        assert len(shas) == 1
        # rung 1 measured mCE on its subset; rung 0 measured no mCE at all
        assert "mce" in record.objectives(chain[1]) and "mce" not in record.objectives(chain[2])
        base = evaluator.baseline_values(cfg.arch)["accuracy"]
        expected = base - full.values["accuracy"] - 30.0
        assert record.constraints(chain[2]) == {"accuracy max_drop 30": pytest.approx(expected)}


def test_a_table_serves_subset_values_and_charges_each_rung_its_share(tmp_path):
    """The tabular replay of a ladder whose lower rung measures mCE on a subset: the rung
    reads the subset's mCE, the top rung the full one, and each is charged its share."""
    from moo_compress.evaluation.table import TableMiss, fidelity_id

    subset = {"corruptions": ["contrast"], "severities": [3], "images": None}
    ladder = (
        ", eta: 2, sampler: random, rungs: [{objectives: [accuracy, cr, mce],"
        " corruptions: [contrast], severities: [3]}]"
    )
    cfg = load_study_config(_study(tmp_path, ladder, "", 4))
    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    assert cfg.driver_options["rungs"][0]["exact"] == ["accuracy", "cr"]
    table = _table(cfg.space)
    fid = fidelity_id(subset)
    table.subsets[fid] = {k: {"mce": 50.0 + i} for i, k in enumerate(table.rows)}
    table.shares = {"build": 0.5, "accuracy": 0.01, "cr": 0.01, f"mce|{fid}": 0.03, "mce": 0.2}
    table.shares["proxy_purity"] = 0.25
    key = next(iter(table.rows))
    low = table.evaluate_rung({}, key, objectives=["accuracy", "cr", "mce"], fidelity=subset)
    assert low.values["mce"] == 50.0 and low.values["cr"] == table.rows[key]["cr"]
    assert low.seconds == pytest.approx(table.seconds[key] * (0.5 + 0.01 + 0.01 + 0.03))
    top = table.evaluate_rung({}, key, objectives=["mce", "proxy_purity"], artifact=b"")
    assert top.values["mce"] == table.rows[key]["mce"]
    assert top.seconds == pytest.approx(table.seconds[key] * 0.45)
    with pytest.raises(TableMiss):
        table.evaluate_rung({}, key, objectives=["mce"], fidelity={**subset, "severities": [1]})
    study = _run(cfg, table)
    for t in study.trials:
        info = record.rung(t)
        if t.state == TrialState.PRUNED:
            assert record.objectives(t)["mce"] >= 50.0 and record.objectives(t)["mce"] < 50 + 1e4
            assert record.objectives(t)["mce"] == table.subsets[fid][record.config_key(t)]["mce"]
        elif t.state == TrialState.COMPLETE:
            key = record.config_key(t)
            assert record.objectives(t)["mce"] == table.rows[key]["mce"]
            assert info["rung"] == 1 and "proxy_purity" in record.objectives(t)


def test_the_hypervolume_tie_break_prefers_what_adds_most_to_the_front():
    # one front, normalized: the ends add nothing against the reference point (1, 1), the
    # middle point adds 0.25 + its share; crowding would put the ends first
    values = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.2, 0.9]])
    none = np.zeros(4)
    numbers = np.arange(4)
    assert promotion_order(values, none, numbers)[:2] == [0, 2]
    order = promotion_order(values, none, numbers, tie_break="hypervolume")
    assert order[0] == 1 and order[-2:] == [0, 2]
