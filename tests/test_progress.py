"""Progress output (issue 16): one JSON line per finished trial (``--log-format json``) and
the text hypervolume chart of ``status``; studies are written straight into storage."""

from __future__ import annotations

import io
import json

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress.archive import normalized_hypervolume
from moo_compress.progress import TrialLog, hv_chart
from moo_compress.report import format_status
from tests.test_cli_safety import make_study


def _add(study, cfg, values: dict, *, violation: float = -1.0) -> None:
    trial = study.ask()
    config = cfg.space.suggest(trial)
    record.write_config(trial, config, cfg.space.config_key(config))
    trial.set_user_attr("objectives", values)
    record.write_constraints(trial, {"accuracy >= 90": violation})
    study.tell(trial, [values[n] for n in cfg.objective_names])


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_trial_finished_while_the_log_runs(tmp_path):
    _, cfg, url = make_study(tmp_path, n_complete=2)  # finished before: counted, not printed
    study = optuna.load_study(study_name="tiny", storage=url)
    study.sampler = optuna.samplers.RandomSampler(seed=1)
    stream = io.StringIO()
    log = TrialLog(url, "tiny", stream=stream, interval=0.05).start()
    good = {"accuracy": 95.0, "cr": 20.0, "mce": 90.0, "proxy_purity": 0.95}
    _add(study, cfg, good)
    _add(
        study, cfg, {"accuracy": 99.0, "cr": 40.0, "mce": 50.0, "proxy_purity": 1.2}, violation=3.0
    )
    failed = study.ask()
    record.write_fail_reason(failed, "ValueError: boom")
    study.tell(failed, state=TrialState.FAIL)
    log.stop()
    lines = _lines(stream)
    assert [(x["trial"], x["state"], x["feasible"]) for x in lines] == [
        (2, "COMPLETE", True),
        (3, "COMPLETE", False),
        (4, "FAIL", None),
    ]
    assert lines[0]["values"] == good and lines[2]["values"] is None
    assert lines[2]["fail_reason"] == "ValueError: boom"
    assert [x["complete"] for x in lines] == [3, 4, 4]
    feasible = [[90.0 + i, 10.0 - i, 100.0, 0.9] for i in range(2)] + [list(good.values())]
    hv = normalized_hypervolume(
        np.array(feasible), cfg.directions, [o.bounds for o in cfg.objectives]
    )
    # the infeasible trial, which dominates every other, changes neither archive nor hypervolume
    assert lines[0]["hypervolume"] == lines[1]["hypervolume"] == pytest.approx(hv)
    assert lines[0]["archive_size"] == lines[1]["archive_size"] == 1  # good dominates 0 and 1
    assert all(x["seconds"] is not None and x["seconds"] >= 0 for x in lines)


def test_the_log_waits_for_a_study_created_after_it_started(tmp_path):
    stream = io.StringIO()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    log = TrialLog(url, "tiny", stream=stream, interval=0.05).start()
    with pytest.raises(Exception, match="no such study database"):
        log.poll()
    make_study(tmp_path, n_complete=2)
    log.stop()
    assert [x["trial"] for x in _lines(stream)] == [0, 1]
    assert not (tmp_path / "study.db-journal").exists()


def test_search_log_format_json_prints_trials_and_draws_no_bar(tmp_path, monkeypatch, capsys):
    from moo_compress.cli import main

    path, cfg, url = make_study(tmp_path, n_complete=0)
    seen = {}

    def fake_search(cfg_, *, show_progress, **_kwargs):
        seen["show_progress"] = show_progress
        study = optuna.load_study(study_name="tiny", storage=url)
        study.sampler = optuna.samplers.RandomSampler(seed=2)
        for i in range(2):
            _add(
                study, cfg, {"accuracy": 90.0 + i, "cr": 5.0 - i, "mce": 100.0, "proxy_purity": 0.9}
            )
        return {
            "study": "tiny",
            "complete": 2,
            "failed": 0,
            "archive_size": 2,
            "hypervolume": 0.1,
            "wall_seconds": 1.0,
            "storage": url,
        }

    monkeypatch.setattr("moo_compress.runner.run_search", fake_search)
    assert main(["search", str(path), "--log-format", "json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert [x["trial"] for x in lines] == [0, 1] and lines[-1]["archive_size"] == 2
    assert seen["show_progress"] is False and "tiny: 2 complete" in out


def test_hv_chart_is_a_step_line_from_the_lowest_to_the_highest_value():
    history = [{"n_complete": n, "hv": hv} for n, hv in ((1, 0.1), (5, 0.3), (10, 0.5))]
    lines = hv_chart(history, width=10, height=5)
    plot = [line.split("|", 1)[1] for line in lines[:5]]
    assert lines[0].strip().startswith("0.5000") and lines[4].strip().startswith("0.1000")
    assert plot[4].startswith("*") and plot[0].endswith("*")  # first low, last high
    assert all(sum(row[c] == "*" for row in plot) == 1 for c in range(10))  # one per column
    assert lines[-1].split()[0] == "1" and "10" in lines[-1]
    assert hv_chart([]) == []
    s = {
        "study": "x",
        "driver": "d",
        "budget": 10,
        "complete": 10,
        "failed": 0,
        "running": 0,
        "interrupted": 0,
        "duplicates_skipped": 0,
        "generation": None,
        "archive_size": 3,
        "hypervolume": 0.5,
        "hv_history": [dict(h, archive_size=1) for h in history],
    }
    assert "hypervolume over completed trials" in format_status(s)


def test_worker_log_format_json_prints_trials(tmp_path, monkeypatch, capsys):
    from moo_compress.cli import main

    path, cfg, url = make_study(tmp_path, n_complete=0)

    def fake_worker(cfg_, *, worker=None):
        study = optuna.load_study(study_name="tiny", storage=url)
        study.sampler = optuna.samplers.RandomSampler(seed=3)
        _add(study, cfg, {"accuracy": 93.0, "cr": 4.0, "mce": 99.0, "proxy_purity": 0.9})
        return {
            "worker": "w",
            "evaluated": 1,
            "complete": 1,
            "failed": 0,
            "wall_seconds": 1.0,
            "eval_seconds": 0.5,
            "database_seconds": 0.1,
            "wait_seconds": 0.0,
        }

    monkeypatch.setattr("moo_compress.workers.run_worker", fake_worker)
    assert main(["worker", str(path), "--log-format", "json", "--quiet"]) == 0
    err = capsys.readouterr().err
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert [(x["trial"], x["state"], x["feasible"]) for x in lines] == [(0, "COMPLETE", True)]
    assert lines[0]["values"]["mce"] == 99.0 and lines[0]["archive_size"] == 1
