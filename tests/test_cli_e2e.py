"""End to end through the CLI: search, SIGKILL mid-way, resume, compare, export, evaluate."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from moo_compress import storage as st
from tests.conftest import ROOT, cli, write_study

pytestmark = pytest.mark.slow


def _complete_count(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _running_count(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from trials where state = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _archive(study_path):
    out = cli("pareto", str(study_path), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    # wall-clock latency is the one measurement that is not reproducible
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in ("trial", "latency_ms")}, sort_keys=True)
        for r in rows
    )


@pytest.mark.parametrize("driver", ["pymoo-nsga2", "optuna-tpe"])
def test_killed_and_resumed_search_matches_uninterrupted_run(tmp_path, shared_cache, driver):
    n = 8
    straight = write_study(tmp_path / "straight", driver=driver, n_trials=n, cache_dir=shared_cache)
    res = cli("search", str(straight), "--no-progress")
    assert res.returncode == 0, res.stderr

    killed = write_study(tmp_path / "killed", driver=driver, n_trials=n, cache_dir=shared_cache)
    db = killed.with_suffix(".db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moo_compress", "search", str(killed), "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while (
        (_complete_count(db) < 3 or _running_count(db) == 0)
        and time.time() < deadline
        and proc.poll() is None
    ):
        time.sleep(0.1)
    assert proc.poll() is None, "search finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # inside a trial: one is RUNNING
    proc.wait()
    done_before = _complete_count(db)
    assert 3 <= done_before < n
    assert _running_count(db) == 1, "the kill did not land inside a trial"

    res = cli("search", str(killed), "--no-progress")
    assert res.returncode == 0, res.stderr
    status = cli("status", str(killed))
    assert status.returncode == 0
    assert f"{n}/{n} complete, 0 failed, 0 running" in status.stdout

    with sqlite3.connect(db) as con:
        states = dict(con.execute("select state, count(*) from trials group by state").fetchall())
        keys = [
            r[0]
            for r in con.execute(
                "select value_json from trial_user_attributes a join trials t using(trial_id) where a.key = 'config_key' and t.state = 'COMPLETE'"
            )
        ]
    assert states["COMPLETE"] == n and "RUNNING" not in states
    assert len(set(keys)) == len(keys), "a configuration was evaluated twice"
    with sqlite3.connect(db) as con:
        reasons = [
            r[0]
            for r in con.execute(
                "select value_json from trial_user_attributes a join trials t using(trial_id) where a.key = 'fail_reason' and t.state = 'FAIL'"
            )
        ]
    interrupted = [r for r in reasons if json.loads(r) == st.INTERRUPTED]
    assert len(interrupted) == 1, reasons  # the killed trial, marked failed on resume
    assert _archive(killed) == _archive(straight)


def test_export_then_evaluate_reproduces_accuracy_exactly(tmp_path, shared_cache):
    study = write_study(tmp_path / "s", n_trials=4, cache_dir=shared_cache)
    assert cli("search", str(study), "--no-progress").returncode == 0
    out = tmp_path / "export"
    res = cli("export", str(study), "--out", str(out))
    assert res.returncode == 0, res.stderr
    models = sorted(p for p in out.iterdir() if p.is_dir())
    assert models and (out / "manifest.csv").is_file()
    assert {p.name for p in models[0].iterdir()} == {
        "model.mcz",
        "model.onnx",
        "config.json",
        "metrics.json",
        "MODEL_CARD.md",
    }
    res = cli("evaluate", str(models[0]), "--format", "json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["measured"]["accuracy"] == report["recorded"]["accuracy"]
    assert report["measured"]["cr"] == pytest.approx(report["recorded"]["cr"], rel=0, abs=0)

    # A changed file is refused.
    (models[0] / "config.json").write_text((models[0] / "config.json").read_text() + " ")
    res = cli("evaluate", str(models[0]))
    assert res.returncode == 2
    assert "changed since export" in res.stderr

    # Export refuses to overwrite a non-empty directory without --force.
    res = cli("export", str(study), "--out", str(out))
    assert res.returncode == 2 and "--force" in res.stderr


def test_help_does_not_import_torch():
    code = "import sys; from moo_compress.cli import main\ntry:\n    main(['search', '--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.stdout.strip().endswith("False"), res.stdout + res.stderr
