"""``moo-compress report``: one folder with a self-contained report.html and report.md with
its PNG files (issue 16), on a study written straight into storage (no evaluation runs)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import time
from types import SimpleNamespace

import numpy as np
import optuna
import pytest

from moo_compress import record
from moo_compress import storage as st
from moo_compress.anova import cells_from_records
from moo_compress.archive import normalized_hypervolume
from moo_compress.cli import main
from moo_compress.config import load_study_config
from moo_compress.report import study_view
from moo_compress.study_report import knee_index, load_report_data
from tests.conftest import write_study

CORRUPTIONS = ("gaussian_noise", "contrast")
EXTRA = "speckle_noise"
SEVERITIES = (1, 3, 5)
# the reference's error per corruption and severity, cached as the evaluation caches it
REFERENCE = {
    "gaussian_noise": [0.02, 0.04, 0.1],
    "contrast": [0.03, 0.05, 0.2],
    EXTRA: [0.02, 0.03, 0.05],
}
BASELINE_ACCURACY = 0.975
N_TRIALS = 14
INFEASIBLE = 3  # this trial breaks its constraint, and would otherwise dominate every other


def _details(rng: np.random.Generator, scale: float) -> dict:
    errors = {
        c: [float(min(1.0, e * scale * rng.uniform(0.8, 1.2))) for e in v]
        for c, v in REFERENCE.items()
    }
    ce = {c: float(np.sum(errors[c]) / np.sum(REFERENCE[c])) for c in errors}
    return {
        "ce": {c: ce[c] for c in CORRUPTIONS},
        "ce_extra": {EXTRA: ce[EXTRA]},
        "errors": errors,
        "mean_error_per_severity": {
            str(s): float(np.mean([errors[c][i] for c in CORRUPTIONS]))
            for i, s in enumerate(SEVERITIES)
        },
        "reference": "baseline",
        "excluded": [],
    }


def make_study(folder, n_trials: int = N_TRIALS):
    """A 4-objective study as `search` writes it: trials with configurations, objectives,
    results with corruption details, constraints, a failure and the hypervolume history."""
    path = write_study(folder, cache_dir=folder / "cache")
    cfg = load_study_config(path)
    url = st.storage_url(cfg)
    study = st.create_or_load(cfg, url)
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    rng = np.random.default_rng(0)
    done = []
    for i in range(n_trials):
        trial = study.ask()
        config = cfg.space.suggest(trial)
        record.write_config(trial, config, cfg.space.config_key(config))
        squeeze = config["prune_ratio"]
        acc = 97.0 - 20 * squeeze**3 + rng.normal(0, 0.5)
        values = {
            "accuracy": acc,
            "cr": 1.0 + 30 * squeeze + (8 if config["quant_bits"] != 32 else 0),
            "mce": 90.0 + 40 * squeeze + rng.normal(0, 3),
            "proxy_purity": 0.9 + rng.normal(0, 0.02),
            "corruption_accuracy": acc - 10 * rng.uniform(0.5, 1.5),
            "robustness_ratio": rng.uniform(0.8, 0.95),
        }
        if i == INFEASIBLE:
            values.update(accuracy=99.9, cr=49.0, mce=10.0, proxy_purity=1.4)
        details = _details(rng, values["mce"] / 100)
        result = SimpleNamespace(
            values=values,
            technique="pruning" if config["quant_bits"] == 32 else "PQAT",
            seconds=2.0,
            artifact=b"x",
            details={"mce": details},
        )
        record.write_result(trial, result)
        record.write_constraints(trial, {"accuracy >= 90": 5.0 if i == INFEASIBLE else -1.0})
        study.tell(trial, [values[n] for n in cfg.objective_names])
        if i != INFEASIBLE:
            done.append([values[n] for n in cfg.objective_names])
        study.set_user_attr(
            f"{st.HV_PREFIX}{i + 1:06d}",
            {
                "n_complete": i + 1,
                "hv": normalized_hypervolume(
                    np.array(done), cfg.directions, [o.bounds for o in cfg.objectives]
                ),
                "archive_size": len(done),
                "generation": i // 4,
                "time": time.time(),
            },
        )
    trial = study.ask()
    record.write_fail_reason(trial, "ValueError: boom")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    baselines = folder / "cache" / "baselines"
    baselines.mkdir(parents=True)
    ref = {
        "baseline_accuracy": BASELINE_ACCURACY,
        "baseline_deflate_bytes": 1000,
        "corruption_errors": REFERENCE,
        "name": "baseline",
        "accuracy": BASELINE_ACCURACY,
    }
    (baselines / "0123.4567.reference.json").write_text(json.dumps(ref))
    other = {
        **ref,
        "baseline_accuracy": 0.5,
        "corruption_errors": {c: [0.5] * 3 for c in REFERENCE},
    }
    (baselines / "0123.89ab.reference.json").write_text(json.dumps(other))  # another split
    return path, cfg, url, study


def _run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    path, cfg, url, study = make_study(folder)
    before = (folder / "study.db").read_bytes()
    code, out, err = _run("report", path)
    assert code == 0, err
    assert (folder / "study.db").read_bytes() == before  # the report only reads
    return SimpleNamespace(
        folder=folder, path=path, cfg=cfg, url=url, out=out, report=folder / "study.report"
    )


def test_report_writes_html_md_and_every_png(reported):
    rep = reported.report
    assert f"wrote {rep / 'report.html'} and report.md" in reported.out
    pngs = sorted(p.name for p in rep.glob("*.png"))
    expected = {
        "front_matrix.png",
        "front_2d.png",
        "front_3d.png",
        "hypervolume.png",
        "composition.png",
        "robustness_ce.png",
        "robustness_severity.png",
        "importance.png",
        "proxy_validity.png",
    }
    assert expected <= set(pngs)
    page = (rep / "report.html").read_text()
    md = (rep / "report.md").read_text()
    # self-contained: no src/href/url() pointing anywhere but a data URI or an anchor
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs
    assert "http://" not in page and "https://" not in page and "url(" not in page
    for name in pngs:
        data = base64.b64encode((rep / name).read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{data}"' in page, name
        assert f"]({name})" in md, name
    for title in (
        "The front",
        "Hypervolume",
        "What the archive is made of",
        "Robustness of the front",
        "Extremes and knee",
        "Parameter importance",
        "Proxy validity",
    ):
        assert f"## {title}" in md and f">{title}</h2>" in page


def test_archive_is_the_feasible_front_and_baseline_comes_from_the_matching_cache(reported):
    study, meta = st.load_for_reading(reported.url, "tiny")
    data = load_report_data(study_view(study, meta), study)
    numbers = [data.complete[i].number for i in data.archive]
    assert INFEASIBLE not in numbers and numbers
    assert not data.feasible[INFEASIBLE] and data.feasible.sum() == N_TRIALS - 1
    # the reference file whose errors reproduce the trials' CE, not the other split's
    assert data.baseline.values["accuracy"] == pytest.approx(100 * BASELINE_ACCURACY)
    assert data.baseline.values["cr"] == 1.0 and data.baseline.values["mce"] == 100.0
    assert "proxy_purity" not in data.baseline.values
    md = (reported.report / "report.md").read_text()
    assert "| accuracy | maximize |" in md and "97.5 | cache (0123.4567.reference.json)" in md
    extremes = md.split("## Extremes and knee")[1].split("## ")[0]
    assert "| knee |" in extremes and f"| best accuracy | {INFEASIBLE} |" not in extremes


def test_report_from_the_database_alone_in_each_format(tmp_path):
    path, _, url, _ = make_study(tmp_path / "small", n_trials=2)
    path.unlink()  # no study file at all
    for fmt, present, absent in (
        ("html", "report.html", "report.md"),
        ("md", "report.md", "report.html"),
    ):
        out = tmp_path / fmt
        code, _, err = _run(
            "report",
            "--storage",
            url,
            "--study",
            "tiny",
            "--out",
            out,
            "--format",
            fmt,
            "--axes",
            "mce,cr",
        )
        assert code == 0, err
        assert (out / present).exists() and not (out / absent).exists()
        assert bool(list(out.glob("*.png"))) == (fmt == "md")  # html embeds them
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no work folder left
        text = (out / present).read_text()
        assert "Skipped: fANOVA needs at least 8 completed trials" in text


def test_bad_axes_is_one_line_naming_the_option(reported, tmp_path):
    code, _, err = _run("report", reported.path, "--out", tmp_path / "r", "--axes", "accuracy,nope")
    assert code == 2
    lines = err.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: --axes") and "'accuracy,nope'" in lines[0]
    )
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_knee_is_the_point_nearest_the_ideal_after_scaling():
    front = np.array([[100.0, 1.0], [90.0, 10.0], [50.0, 11.0]])
    assert knee_index(front, ["maximize", "maximize"]) == 1
    assert knee_index(front[:, :1], ["minimize"]) == 2
    assert knee_index(np.empty((0, 2)), ["maximize", "minimize"]) is None


def test_seed001_cells_put_the_unpruned_model_in_every_zero_cell():
    def rec(n, method, gran, ratio, key, acc):
        config = {"prune_method": method, "prune_granularity": gran, "prune_ratio": ratio}
        return SimpleNamespace(
            number=n,
            state="COMPLETE",
            config=config,
            config_key=key,
            objectives={"pgd_accuracy": acc},
        )

    recs = [
        rec(0, "magnitude", "unstructured", 0.0, "base", 50.0),
        rec(1, "hydra", "kernel", 0.5, "a", 40.0),
        rec(2, "hydra", "kernel", 0.5, "b", 42.0),
        rec(3, "hydra", "kernel", 0.5, "b", 99.0),  # same model again: counted once
    ]
    cells = cells_from_records(recs)
    assert cells[("hydra", "kernel", 0.5)]["pgd_accuracy"] == [40.0, 42.0]
    for m in ("magnitude", "hydra"):
        for g in ("unstructured", "kernel"):
            assert cells[(m, g, 0.0)]["pgd_accuracy"] == [50.0]


def test_plotly_pareto_front_works_on_a_finished_study(reported):
    import plotly.graph_objects as go

    study = optuna.load_study(study_name="tiny", storage=reported.url)
    names = reported.cfg.objective_names
    fig = optuna.visualization.plot_pareto_front(
        study, targets=lambda t: (t.values[0], t.values[1]), target_names=names[:2]
    )
    assert isinstance(fig, go.Figure)
    assert fig.layout.xaxis.title.text == names[0] and fig.layout.yaxis.title.text == names[1]
    assert sum(len(trace.x) for trace in fig.data) == N_TRIALS


def test_a_study_without_completed_trials_gets_a_report_that_says_so(tmp_path):
    path, _, _, _ = make_study(tmp_path, n_trials=0)
    code, out, err = _run("report", path, "--format", "md")
    assert code == 0, err
    md = (tmp_path / "study.report" / "report.md").read_text()
    assert "No completed trial yet" in md and "The archive is empty." in md
    assert "Skipped: fANOVA needs at least 8 completed trials" in md
    assert "archive of 0 models" in out


SEED001_SPACE = """
variables:
  prune_method: {type: categorical, choices: [deeplift, hydra, magnitude]}
  prune_granularity: {type: categorical, choices: [unstructured, kernel]}
  prune_ratio: {type: categorical, choices: [0.0, 0.5]}
  replicate: {type: int, low: 0, high: 2}
  finetune_epochs: 1
"""


def test_a_seed001_design_gets_its_anova_tables(tmp_path):
    from moo_compress.study_report import _anova, render_html, render_markdown

    path = write_study(tmp_path, driver="grid", n_trials=20, cache_dir=tmp_path / "cache")
    (tmp_path / "space.yaml").write_text(SEED001_SPACE)
    text = path.read_text().replace(
        "  - {name: mce, direction: minimize}\n  - {name: proxy_purity, direction: maximize}\n", ""
    )
    text = text.replace(
        "{name: accuracy, direction: maximize}", "{name: pgd_accuracy, direction: maximize}"
    )
    text = text.replace(
        "{name: cr, direction: maximize}", "{name: latency_ms, direction: minimize}"
    )
    path.write_text(text + "record: [accuracy, cr, pgd_accuracy, latency_ms]\n")
    cfg = load_study_config(path)
    study = st.create_or_load(cfg, st.storage_url(cfg))
    rng = np.random.default_rng(1)
    for method in ("deeplift", "magnitude"):
        for rep in range(3):
            config = cfg.space.full_config(
                {
                    "prune_method": method,
                    "prune_granularity": "kernel",
                    "prune_ratio": 0.5,
                    "replicate": rep,
                }
            )
            trial = study.ask()
            record.write_config(trial, config, cfg.space.config_key(config))
            values = {
                "pgd_accuracy": (60 if method == "deeplift" else 40) + rng.normal(),
                "latency_ms": 1 + rng.uniform(),
                "accuracy": 95.0,
                "cr": 2.0,
            }
            trial.set_user_attr("objectives", values)
            study.tell(trial, [values["pgd_accuracy"], values["latency_ms"]])
    study, meta = st.load_for_reading(st.storage_url(cfg), "tiny")
    sec = _anova(load_report_data(study_view(study, meta), study))
    assert sec is not None
    md = render_markdown("t", [sec])
    assert "| DeepLIFT, kernel | 60." in md and "### Table I analogue" in md
    row = next(x for x in md.splitlines() if x.startswith("| DeepLIFT vs. magnitude (Kernel)"))
    assert float(row.split("|")[-2]) < 1e-3  # 60 vs 40 with unit noise: clearly different
    page = render_html("t", [sec], tmp_path)
    assert "<h3>Table II analogue: p-values on inference time</h3>" in page
    assert "<td>DeepLIFT vs. magnitude (Kernel)</td>" in page


def test_constraint_limits_follow_the_constraints_own_values():
    from moo_compress.study_report import Baseline, constraint_limits

    view = SimpleNamespace(
        constraints=[
            {"objective": "accuracy", "kind": "max_drop", "bound": 2.0},
            {"objective": "latency_ms", "kind": "max", "bound": 3.0},
            {"objective": "mce", "kind": "max_relative_increase", "bound": 0.1},
            {"objective": "proxy_purity", "kind": "max_relative_drop", "bound": 0.5},
        ]
    )
    base = Baseline(values={"accuracy": 98.0, "mce": 100.0})
    limits = {x["objective"]: (x["side"], x["limit"]) for x in constraint_limits(view, base)}
    assert limits["accuracy"] == (">=", pytest.approx(96.0))
    assert limits["latency_ms"] == ("<=", pytest.approx(3.0))
    assert limits["mce"] == ("<=", pytest.approx(110.0))
    assert limits["proxy_purity"] == (">=", None)  # relative to an unknown baseline value
