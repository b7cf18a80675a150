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
from moo_compress.drivers.mo_asha import LadderEntry, MoAshaDriver, promotion_order
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
        (", sampler: cmaes", "driver.sampler", "must be one of {random, tpe, gp, nsga2}"),
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
        # the promoted configuration was among the best 1/eta of its rung at that moment:
        # every result that beats it comes before it in the order, so fewer than k of the
        # rung's k * eta (or more) results beat it, "beat" being checked here on its own
        # (constrained domination: feasible beats infeasible, then the smaller violation,
        # then Pareto dominance on the objectives known at the rung); the exact order is
        # checked against hand-computed answers in test_promotions_match_a_hand_computed_table
        below = [
            e
            for e in driver.entries(_Upto(study, t.number).get_trials())
            if e.rung == info["rung"] - 1 and e.state == "done"
        ]
        k = len(below) // 2
        known = driver.known(info["rung"] - 1)
        promoted = next(e for e in below if e.number == info["promoted_from"])
        assert sum(_beats(a, promoted, known, cfg) for a in below) < k
    # the accuracy constraint cuts rung 0 (so the rule above was checked with infeasible
    # configurations ranked last)
    pruned0 = [t for t in trials if t.state == TrialState.PRUNED and not record.rung(t)["rung"]]
    assert any(not record.is_feasible(t) for t in pruned0)


def _beats(a, b, known, cfg) -> bool:
    """Whether rung result ``a`` constrained-dominates ``b`` (Deb's rule, as NSGA-II)."""
    if (a.violation > 0) != (b.violation > 0):
        return a.violation == 0
    if a.violation > 0:
        return a.violation < b.violation
    sign = {o.name: (1 if o.direction == "maximize" else -1) for o in cfg.objectives}
    gains = [sign[n] * (a.values[n] - b.values[n]) for n in known if n in sign]
    return all(g >= 0 for g in gains) and any(g > 0 for g in gains)


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


@pytest.mark.parametrize("sampler", ["tpe", "gp", "nsga2"])
def test_a_killed_search_resumes_with_the_same_trials_and_archive(tmp_path, sampler):
    cfg = load_study_config(_study(tmp_path, f", eta: 2, sampler: {sampler}", CONSTRAINT, 6))
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


@pytest.mark.parametrize("sampler", ["tpe", "gp", "nsga2"])
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


# -- the base samplers, the violation scale, the duplicate counter -------------------------
class _Attrs(dict):
    """Collects what ``record``'s writers set on a trial."""

    def set_user_attr(self, key, value):
        self[key] = value


def _rung0(cfg, number: int, params: dict, values: dict, constraints: dict):
    """A stored rung-0 result (PRUNED) as mo-asha writes it."""
    from types import SimpleNamespace

    attrs = _Attrs()
    config = cfg.space.full_config(params)
    record.write_rung(attrs, 0, 1, None)
    record.write_config(attrs, config, cfg.space.config_key(config))
    result = SimpleNamespace(values=values, technique="t", seconds=1.0, artifact=b"", details={})
    record.write_result(attrs, result)
    if cfg.constraints:
        record.write_constraints(attrs, constraints)
    trial = optuna.trial.create_trial(
        state=TrialState.PRUNED,
        params=params,
        distributions=cfg.space.distributions(),
        user_attrs=dict(attrs),
    )
    trial.number = number
    return trial


EVOLVE_SPACE = """
variables:
  prune_ratio: {type: float, low: 0.05, high: 0.95, step: 0.05}
  cluster_count: {type: categorical, choices: [4, 8, 16, 32, 64, 128, 256]}
  quant_bits: {type: categorical, choices: [2, 3, 4, 5, 6, 7, 8, 32]}
"""


def _evolve_cfg(tmp_path, sampler: str):
    path = _study(tmp_path, f", sampler: {sampler}")
    (tmp_path / "space.yaml").write_text(EVOLVE_SPACE)
    return load_study_config(path)


def test_nsga2_evolves_from_the_non_dominated_rung0_results(tmp_path):
    """Two populations (8 each, NSGA-II's default size here) of rung-0 results: 8 form the
    non-dominated front (accuracy up, CR down), 8 are dominated by the first of them. The
    front's configurations use one half of each variable's values, the dominated ones the
    other half, so where a proposal's values come from shows."""
    cfg = _evolve_cfg(tmp_path, "nsga2")
    assert cfg.driver_options["population_size"] == 8
    driver = MoAshaDriver(cfg)
    front = {"prune_ratio": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]}
    front["cluster_count"], front["quant_bits"] = [4, 8, 16], [2, 3, 4, 5]
    dominated = {"prune_ratio": [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]}
    dominated["cluster_count"], dominated["quant_bits"] = [64, 128, 256], [6, 7, 8, 32]
    trials, good = [], []
    for i in range(16):  # front members at even numbers: 4 in each population
        j = i // 2
        if i % 2 == 0:
            params = {v: vals[j % len(vals)] for v, vals in front.items()}
            values = {"accuracy": 90.0 + j, "cr": 20.0 - j, "proxy_purity": 1.0}
            good.append(params)
        else:
            params = {v: vals[j % len(vals)] for v, vals in dominated.items()}
            values = {"accuracy": 80.0 + j, "cr": 5.0 + j, "proxy_purity": 1.0}
        trials.append(_rung0(cfg, i, params, values, {}))
    entries = driver.entries(trials)
    assert len(entries) == 16

    # NSGA-II sees two generations and selects the 8 non-dominated results as parents
    shadow = driver.shadow_study(entries, seed=0)
    parents = shadow.sampler.get_parent_population(shadow, 2)
    assert sorted(p.params["prune_ratio"] for p in parents) == front["prune_ratio"]

    names = list(front)
    nsga, rand = [], []
    for seed in range(30):
        config = driver.propose(cfg.space, entries, seed)
        nsga.append({v: config[v] for v in names})
        fresh = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        config = cfg.space.suggest(fresh.ask())
        rand.append({v: config[v] for v in names})

    def outside(p):  # values no parent has: only a mutation (a random draw) gives them
        return sum(p[v] not in front[v] for v in names)

    def from_two_parents(p):  # every value taken from one of two parents
        return any(all(p[v] in (a[v], b[v]) for v in names) for a in good for b in good)

    # random sampling ignores the results: about 53 % of its values lie outside the
    # parents' half (measured: 53 of 90), and hardly a proposal mixes two parents (1 of 30)
    assert sum(map(outside, rand)) >= 40
    assert sum(map(from_two_parents, rand)) <= 3
    # NSGA-II crosses two parents and mutates each value with probability 1/3 (a mutated
    # value is drawn at random: outside the parents' half 55 % of the time), so about
    # 90 / 3 * 0.55 = 16.5 values lie outside (measured: 17) and a proposal mixes two
    # parents whenever no value left them (at least (2/3)^3 = 30 %; measured: 15 of 30)
    assert sum(map(outside, nsga)) <= 25
    assert sum(map(from_two_parents, nsga)) >= 12
    # it equals random sampling's proposal only when all three values were mutated (NSGA-II
    # draws them with a random sampler of the same seed): 1 in 27 (measured: 2 of 30); the
    # generation-0 (random) proposals it made before this fix were all 30 equal
    assert sum(p == r for p, r in zip(nsga, rand, strict=True)) <= 3
    # a proposal is the same for the same seed and storage (a resumed search's)
    assert driver.propose(cfg.space, entries, 7) == driver.propose(cfg.space, entries, 7)


def _constrained_results(cfg):
    """20 rung-0 results: A (number 1) is feasible and dominates 18 feasible others; B
    (number 0) violates the accuracy constraint (96 - 85 > 3) and has by far the best CR
    and proxy, so without its constraint B is on the first front with A."""
    label = "accuracy max_drop 3"
    trials = [
        _rung0(
            cfg,
            0,
            {"prune_ratio": 0.9, "cluster_count": 256, "quant_bits": 2},
            {"accuracy": 85.0, "cr": 40.0, "proxy_purity": 1.3},
            {label: 8.0},
        ),
        _rung0(
            cfg,
            1,
            {"prune_ratio": 0.05, "cluster_count": 4, "quant_bits": 8},
            {"accuracy": 95.0, "cr": 10.0, "proxy_purity": 1.1},
            {label: -2.0},
        ),
    ]
    for i in range(18):
        acc = 93.5 + 0.05 * i
        trials.append(
            _rung0(
                cfg,
                2 + i,
                {"prune_ratio": 0.1 + 0.05 * (i % 9), "cluster_count": 8, "quant_bits": 3 + i // 9},
                {"accuracy": acc, "cr": 2.0 + 0.4 * i, "proxy_purity": 1.0},
                {label: 96.0 - acc - 3.0},
            )
        )
    return trials


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_the_base_samplers_see_the_constraints(tmp_path, sampler):
    from optuna.samplers._tpe.sampler import _split_trials, default_gamma_multiobjective
    from optuna.samplers.nsgaii._elite_population_selection_strategy import _rank_population

    path = _study(tmp_path, f", sampler: {sampler}", "constraints:\n  accuracy: {max_drop: 3.0}\n")
    (tmp_path / "space.yaml").write_text(EVOLVE_SPACE)
    cfg = load_study_config(path)
    driver = MoAshaDriver(cfg)
    entries = driver.entries(_constrained_results(cfg))
    for n in range(10, 21):  # as the results arrive
        shadow = driver.shadow_study(entries[:n], seed=0)
        trials = sorted(shadow.get_trials(), key=lambda t: t.number)
        b = trials[0]
        assert b.params["cluster_count"] == 256
        assert b.constraints == {"accuracy max_drop 3": pytest.approx(0.08)}  # 8 / 100
        if sampler == "tpe":
            # TPE's good group (the l(x) it samples from) never holds B
            good, _ = _split_trials(shadow, trials, default_gamma_multiobjective(n))
            assert good and b.number not in [t.number for t in good]
        else:
            # NSGA-II ranks B behind every feasible result
            ranks = _rank_population(trials, shadow.directions, is_constrained=True)
            rank = {t.number: r for r, group in enumerate(ranks) for t in group}
            assert all(rank[b.number] > rank[t.number] for t in trials[1:])
    # and with the constraint dropped B is on the first front: the test sees the difference
    plain = [dataclasses.replace(e, constraints={}, violation=0.0) for e in entries]
    shadow = driver.shadow_study(plain, seed=0)
    trials = sorted(shadow.get_trials(), key=lambda t: t.number)
    ranks = _rank_population(trials, shadow.directions)
    assert trials[0].number in [t.number for t in ranks[0]]


def test_infeasible_configurations_rank_by_the_scaled_violation(tmp_path):
    """Two constraints of different units: accuracy (points, bounds [0, 100]: scale 100) and
    CR (a ratio, bounds [1, 50]: scale 49). X misses the accuracy bound by 5 points, Y the CR
    bound by 3. Raw sums would rank Y (3) before X (5); scaled, X misses by 5 / 100 = 0.05 and
    Y by 3 / 49 = 0.0612: X first, in the promotion order and for the base samplers."""
    path = _study(
        tmp_path,
        ", eta: 2, sampler: nsga2",
        "constraints:\n  accuracy: {max_drop: 3.0}\n  cr: '>= 4'\n",
    )
    (tmp_path / "space.yaml").write_text(EVOLVE_SPACE)
    cfg = load_study_config(path)
    assert [(c.label, c.scale) for c in cfg.constraints] == [
        ("accuracy max_drop 3", 100.0),
        ("cr >= 4", 49.0),
    ]
    driver = MoAshaDriver(cfg)
    acc, cr = "accuracy max_drop 3", "cr >= 4"
    y = _rung0(
        cfg,
        0,
        {"prune_ratio": 0.05, "cluster_count": 4, "quant_bits": 8},
        {"accuracy": 95.0, "cr": 1.0, "proxy_purity": 1.0},
        {acc: -2.0, cr: 3.0},
    )
    x = _rung0(
        cfg,
        1,
        {"prune_ratio": 0.5, "cluster_count": 8, "quant_bits": 4},
        {"accuracy": 88.0, "cr": 6.0, "proxy_purity": 1.0},
        {acc: 5.0, cr: -2.0},
    )
    entries = driver.entries([y, x])
    assert [e.violation for e in entries] == [pytest.approx(3 / 49), pytest.approx(0.05)]
    assert entries[1].constraints == {acc: pytest.approx(0.05), cr: pytest.approx(-2 / 49)}
    # eta 2, two results: the better one goes on, and it is X
    assert driver.next_job(entries).number == 1
    # the base sampler sees the same scaled values (Optuna sums the positive ones)
    shadow = driver.shadow_study(entries, seed=0)
    by_number = {t.number: t for t in shadow.get_trials()}
    assert by_number[0].constraints == {acc: pytest.approx(-2 / 100), cr: pytest.approx(3 / 49)}
    assert by_number[1].constraints == {acc: pytest.approx(0.05), cr: pytest.approx(-2 / 49)}


def test_promotions_match_a_hand_computed_table(tmp_path):
    """Nine configurations arrive at rung 0 in three batches; two objectives (accuracy, CR,
    both maximized), eta 3, and the constraint accuracy >= 93 (max_drop 3 from 96), which
    #1 misses. The expected promotions are worked out by hand below."""
    path = _study(tmp_path, ", eta: 3")
    text = path.read_text()
    text = text.replace(
        "  - {name: mce, direction: minimize}\n  - {name: proxy_purity, direction: maximize}\n",
        "",
    )
    path.write_text(text + "constraints:\n  accuracy: {max_drop: 3.0}\n")
    cfg = load_study_config(path)
    assert list(cfg.objective_names) == ["accuracy", "cr"]
    driver = MoAshaDriver(cfg)
    assert driver.known(0) == ("accuracy", "cr")
    table = {  # number: (accuracy, CR, scaled violation)
        0: (95.0, 4.0, 0.0),
        1: (90.0, 30.0, 0.03),  # misses accuracy >= 93 by 3 points: 3 / 100
        2: (94.0, 6.0, 0.0),
        3: (96.0, 2.0, 0.0),
        4: (93.0, 5.0, 0.0),
        5: (94.5, 5.0, 0.0),
        6: (93.5, 7.0, 0.0),
        7: (95.7, 2.5, 0.0),
        8: (94.0, 5.5, 0.0),
    }
    entries = []

    def arrive(numbers):
        for n in numbers:
            a, c, v = table[n]
            entries.append(LadderEntry(n, f"k{n}", {}, 0, "done", {"accuracy": a, "cr": c}, v))

    def promotions():
        out = []
        while (job := driver.next_job(entries)) is not None:
            out.append(job.number)  # the worker starts rung 1 of it (a running entry)
            entries.append(LadderEntry(100 + len(entries), job.key, {}, 1, "running", {}, 0.0))
        return out

    # 3 results, k = 3 // 3 = 1. #1 is infeasible: last, although its CR of 30 would put it
    # on the front. #0 (95, 4) and #2 (94, 6) are one front of two points (both boundary
    # points: infinite crowding), so the trial number decides: #0.
    arrive([0, 1, 2])
    assert promotions() == [0]
    # 6 results, k = 2. #4 (93, 5) is dominated by #2 (94, 6) and #5 (94.5, 5); the front
    # is #0, #2, #3, #5. Crowding, per objective (neighbours' gap / the front's range):
    #   accuracy 94 (#2) 94.5 (#5) 95 (#0) 96 (#3), range 2: #5 (95-94)/2 = 0.5,
    #     #0 (96-94.5)/2 = 0.75, #2 and #3 are ends (inf);
    #   CR 2 (#3) 4 (#0) 5 (#5) 6 (#2), range 4: #0 (5-2)/4 = 0.75, #5 (6-4)/4 = 0.5.
    # Order: #2, #3 (inf, by number), #0 (1.5), #5 (1.0), #4, #1. The best 2 are #2, #3.
    arrive([3, 4, 5])
    assert promotions() == [2, 3]
    # 9 results, k = 3. #8 (94, 5.5) is dominated by #2 (94, 6); #4 by #2, #5 and #8. Front:
    # #0, #2, #3, #5, #6, #7. Crowding:
    #   accuracy 93.5 (#6) 94 (#2) 94.5 (#5) 95 (#0) 95.7 (#7) 96 (#3), range 2.5:
    #     #2 1/2.5 = 0.4, #5 1/2.5 = 0.4, #0 1.2/2.5 = 0.48, #7 1/2.5 = 0.4, #6 #3 inf;
    #   CR 2 (#3) 2.5 (#7) 4 (#0) 5 (#5) 6 (#2) 7 (#6), range 5:
    #     #7 2/5 = 0.4, #0 2.5/5 = 0.5, #5 2/5 = 0.4, #2 2/5 = 0.4.
    # Order: #3, #6 (inf), #0 (0.98), then #2, #5, #7 (0.8 each, by number), #8, #4, #1.
    # The best 3 are #3, #6, #0; #3 and #0 went on already: #6 goes on.
    arrive([6, 7, 8])
    assert promotions() == [6]
    # the infeasible #1 never went on
    assert all(e.key != "k1" for e in entries if e.rung == 1)


def test_a_resumed_search_keeps_its_count_of_duplicates_in_a_row(tmp_path):
    """A tiny space (18 configurations) makes TPE propose configurations already measured;
    after 10 in a row mo-asha proposes at random. Killed at the evaluation that ends a run of
    10 or more duplicates, the resumed search must restore that count (from storage) and
    make the same random proposal: the same trials as the uninterrupted run."""
    tiny = (
        "variables:\n  quant_bits: {type: categorical, choices: [4, 8, 32]}\n"
        "  cluster_count: {type: categorical, choices: [0, 8, 16]}\n"
        "  finetune_epochs: {type: int, low: 0, high: 1}\n"
    )
    path = _study(tmp_path, ", eta: 3, sampler: tpe", CONSTRAINT, 4)
    path.write_text(path.read_text().replace("seed: 3", "seed: 1"))  # 11 in a row
    (tmp_path / "space.yaml").write_text(tiny)
    cfg = dataclasses.replace(load_study_config(path), cache_dir=tmp_path / "cache")
    table = _table(cfg.space)
    whole = _run(cfg, table)

    def story(study):
        return [
            (record.config_key(t), (record.rung(t) or {}).get("rung"), t.state.name, t.values)
            for t in sorted(study.trials, key=lambda t: t.number)
            if record.fail_reason(t) != record.INTERRUPTED
        ]

    # find the first rung-0 evaluation after 10 or more duplicates in a row (promotions in
    # between are no proposals), and how many evaluations ran up to it
    run = evaluations = 0
    for t in sorted(whole.trials, key=lambda t: t.number):
        if str(record.fail_reason(t)).startswith(record.DUPLICATE):
            run += 1
            continue
        evaluations += 1
        if record.rung(t)["rung"] == 0:
            if run >= 10:
                break
            run = 0
    else:
        raise AssertionError("no run of 10 duplicates: the test needs another space or seed")
    storage = optuna.storages.InMemoryStorage()  # kept between the two runs
    _run(cfg, table, storage, fail_at=evaluations)  # stopped by Ctrl-C at that evaluation
    resumed = _run(cfg, table, storage)
    assert sum(record.fail_reason(t) == record.INTERRUPTED for t in resumed.trials) == 1
    assert story(resumed) == story(whole)


def test_the_duplicate_count_is_read_back_from_storage():
    """The one count both the Optuna drivers and mo-asha restore on resume: duplicates in a
    row at the end of the study, passing over interrupted trials and (for mo-asha) its
    promotions and skipped copies; anything else ends the run."""
    from moo_compress.drivers.base import trailing_duplicates

    def trial(state, reason=None, rung=None):
        attrs = _Attrs()
        if reason is not None:
            record.write_fail_reason(attrs, reason)
        if rung is not None:
            record.write_rung(attrs, rung, 2, None)
        values = [1.0] if state == TrialState.COMPLETE else None
        return optuna.trial.create_trial(state=state, values=values, user_attrs=dict(attrs))

    dup = "duplicate of trial 0: configuration already proposed"
    study = optuna.create_study()
    study.add_trials(
        [
            trial(TrialState.PRUNED, rung=0),  # 0: a rung-0 evaluation
            trial(TrialState.FAIL, dup),  # 1
            trial(TrialState.FAIL, dup),  # 2
            trial(TrialState.FAIL, record.INTERRUPTED),  # 3: passed over
            trial(TrialState.PRUNED, rung=1),  # 4: a promotion
            trial(TrialState.FAIL, dup),  # 5
            trial(TrialState.FAIL, "skipped: queued copy of a trial"),  # 6
            trial(TrialState.FAIL, dup),  # 7
        ]
    )
    # the Optuna drivers pass over interrupted trials only: 7, then 6 ends the run
    assert trailing_duplicates(study.trials) == 1
    # mo-asha passes over its promotions and skipped copies too: 7, 5, 2, 1, then 0
    mo_asha = MoAshaDriver._not_a_proposal
    assert trailing_duplicates(study.trials, passed_over=mo_asha) == 4
