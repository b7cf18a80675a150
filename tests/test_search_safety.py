"""Real (tiny) searches: SIGTERM marks the running trial interrupted and exits 143; a second
search on a SQLite study is refused; status and pareto agree after a partial last
generation; evaluate compares every recorded objective and takes no data path from a model
folder (issue 12)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import ROOT, cli

pytestmark = pytest.mark.slow

SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.1}
  quant_bits: {type: categorical, choices: [4, 8, 32]}
  finetune_epochs: {finetune}
"""


def fast_study(folder, cache, *, name="fast", n_trials=3, finetune=0, record="[accuracy, cr]"):
    """Two objectives, one corruption at one severity, no fine-tuning: seconds per search."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(SPACE.replace("{finetune}", str(finetune)))
    path = folder / "study.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            study: {{name: {name}, seed: 3}}
            dataset: {{name: digits, test_fraction: 0.3}}
            model: {{arch: small_cnn, width: 0.5}}
            baseline: {{epochs: 2, lr: 0.05}}
            search_space: space.yaml
            objectives:
              - {{name: accuracy, direction: maximize}}
              - {{name: cr, direction: maximize}}
            record: {record}
            driver: {{name: pymoo-nsga2, population_size: 2}}
            budget: {{n_trials: {n_trials}}}
            corruptions: {{names: [gaussian_noise], severities: [1]}}
            latency: {{repeats: 3, warmup: 1}}
            cache_dir: {cache}
            """
        )
    )
    return path


def _states(db):
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return dict(con.execute("select state, count(*) from trials group by state").fetchall())
    except sqlite3.Error:
        return {}


def _start_search(study):
    return subprocess.Popen(
        [sys.executable, "-m", "moo_compress", "search", str(study), "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_for_running_trial(proc, db, timeout=300):
    """Until a trial runs after at least one completed (the baseline is ready then)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        s = _states(db)
        if s.get("RUNNING") and s.get("COMPLETE"):
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no running trial seen: {proc.communicate()}")


# -- 8. SIGTERM ------------------------------------------------------------------------------
def test_sigterm_marks_the_running_trial_interrupted_and_exits_143(tmp_path, shared_cache):
    study = fast_study(tmp_path, shared_cache, name="term", n_trials=30, finetune=1)
    db = tmp_path / "study.db"
    proc = _start_search(study)
    _wait_for_running_trial(proc, db)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert (
        last == "terminated (SIGTERM); completed trials are stored, run the same command to resume"
    )
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select t.state, a.value_json from trials t left join trial_user_attributes a "
            "on a.trial_id = t.trial_id and a.key = 'fail_reason' where t.state != 'COMPLETE'"
        ).fetchall()
    # the trial that was running is failed with the reason a resume looks for
    assert rows == [
        ("FAIL", json.dumps("interrupted: the process stopped while the trial was running"))
    ]
    assert not (tmp_path / "study.db.lock").exists()


# -- 12. two searches on one SQLite study ------------------------------------------------------
def test_a_second_search_on_a_running_sqlite_study_is_refused(tmp_path, shared_cache):
    study = fast_study(tmp_path, shared_cache, name="twice", n_trials=30, finetune=1)
    db = tmp_path / "study.db"
    first = _start_search(study)
    try:
        _wait_for_running_trial(first, db)
        before = _states(db)
        second = cli("search", str(study), "--no-progress", timeout=120)
        assert second.returncode == 2, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert "in use by another `moo-compress search`" in line
        assert "moo-compress worker" in line
        # the first search's trials are untouched and it goes on
        assert _states(db).get("FAIL", 0) == before.get("FAIL", 0)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    assert "UpdateFinishedTrialError" not in err


# -- 14. status and pareto agree after a partial last generation ------------------------------
@pytest.fixture(scope="module")
def searched(tmp_path_factory, shared_cache):
    folder = tmp_path_factory.mktemp("searched")
    # population 2 and 3 trials: the last generation holds one evaluation
    study = fast_study(folder, shared_cache, record="[accuracy, cr, latency_ms]")
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    return study


def test_status_archive_agrees_with_pareto_after_a_partial_generation(searched):
    import optuna

    from moo_compress.storage import hv_history

    res = cli("pareto", str(searched), "--format", "json")
    assert res.returncode == 0, res.stderr
    archive = len(json.loads(res.stdout))
    status = cli("status", str(searched))
    assert status.returncode == 0, status.stderr
    assert f"archive     {archive} Pareto-optimal models" in status.stdout
    study = optuna.load_study(study_name="fast", storage=f"sqlite:///{searched.with_suffix('.db')}")
    last = hv_history(study)[-1]
    assert last["n_complete"] == 3 and last["archive_size"] == archive
    assert last["generation"] == 1


# -- 13. evaluate: every objective, no data path from the model folder ------------------------
@pytest.fixture(scope="module")
def exported(searched):
    out = searched.parent / "export"
    res = cli("export", str(searched), "--out", str(out))
    assert res.returncode == 0, res.stderr
    return sorted(p for p in out.iterdir() if p.is_dir())[0]


def _cache_env(searched):
    return {"MOO_COMPRESS_CACHE": str(searched.parent / "evaluate-cache")}


def _evaluate(model, *extra, env=None):
    return subprocess.run(
        [sys.executable, "-m", "moo_compress", "evaluate", str(model), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _tamper(model, name, change):
    """Change ``name`` in the model folder and update its SHA-256 in manifest.csv, as an
    attacker who can write the folder would."""
    path = model / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    manifest = model.parent / "manifest.csv"
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["model"] == model.name:
            row[f"sha256:{name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_evaluate_compares_every_recorded_objective(exported, searched, tmp_path):
    import shutil

    model = tmp_path / "export" / exported.name
    shutil.copytree(exported.parent, tmp_path / "export")
    res = _evaluate(model, env=_cache_env(searched))
    assert res.returncode == 0, res.stderr
    assert "latency_ms: not compared" in res.stdout  # said, not hidden

    def cr_999(metrics):
        for part in metrics.values():
            if isinstance(part, dict) and isinstance(part.get("cr"), float):
                part["cr"] = 999.0

    _tamper(model, "metrics.json", cr_999)
    res = _evaluate(model, env=_cache_env(searched))
    assert res.returncode == 1
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {model}: cr measured") and "recorded 999" in line
    assert "(exact)" in line and "accuracy" not in line


def test_evaluate_never_takes_a_data_path_from_the_model_folder(exported, searched, tmp_path):
    import shutil

    model = tmp_path / "export" / exported.name
    shutil.copytree(exported.parent, tmp_path / "export")
    planted = tmp_path / "planted"
    planted.mkdir()

    def cifar_from_planted(config):
        ds = config["evaluation"]["dataset"]
        ds["name"] = "cifar10"
        ds["options"] = {"root": str(planted)}

    _tamper(model, "config.json", cifar_from_planted)
    res = _evaluate(model, env=_cache_env(searched))
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: --data-root: is required")
    assert list(planted.iterdir()) == []

    res = _evaluate(exported, "--data-root", str(planted), env=_cache_env(searched))
    assert res.returncode == 2 and "--data-root: does not apply" in res.stderr
