"""Optuna's own tools read our studies: a finished study opened through Optuna's public API
only (names, values, one short flat attribute per objective, technique, architecture and
failure reason, no attribute over 1,024 characters), and served by optuna-dashboard."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import cli, write_study

OBJECTIVES = ["accuracy", "cr", "mce", "proxy_purity"]


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, shared_cache):
    folder = tmp_path_factory.mktemp("finished")
    study = write_study(
        folder,
        driver="optuna-random",
        n_trials=3,
        cache_dir=shared_cache,
        extra="constraints: {accuracy: {max_drop: 3.0}}\n",
    )
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    return f"sqlite:///{study.with_suffix('.db')}"


def test_optunas_public_api_sees_names_values_and_flat_attributes(finished_study):
    import optuna

    study = optuna.load_study(study_name="tiny", storage=finished_study)
    assert study.metric_names == OBJECTIVES
    for key, value in study.user_attrs.items():
        assert len(json.dumps(value)) <= 1024, key
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    for t in complete:
        for key, value in t.user_attrs.items():
            assert len(json.dumps(value)) <= 1024, key
        # every recorded objective as a number of its own; the optimized ones are the values
        flat = {k[4:]: v for k, v in t.user_attrs.items() if k.startswith("obj_")}
        assert set(OBJECTIVES) <= set(flat) and len(flat) >= 10
        assert all(isinstance(v, float) for v in flat.values())
        assert t.values == [flat[n] for n in OBJECTIVES]
        assert isinstance(t.user_attrs["technique"], str) and t.user_attrs["arch"] == "small_cnn"
        assert t.user_attrs["eval_seconds"] > 0
        assert set(t.constraints) == {"accuracy max_drop 3"}
    frame = study.trials_dataframe()
    for name in OBJECTIVES:
        assert frame[f"user_attrs_obj_{name}"].dtype.kind == "f"
    assert frame["user_attrs_technique"].map(type).eq(str).all()
    # Optuna's Pareto front leaves out what violates the constraints
    feasible = {t.number for t in complete if all(v <= 0 for v in t.constraints.values())}
    assert {t.number for t in study.best_trials} <= feasible


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_optuna_dashboard_serves_every_trial(finished_study):
    port = _free_port()
    exe = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen(
        [str(exe), finished_study, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["tiny"]
        detail = _get(f"{base}/api/studies/{studies[0]['study_id']}")
        assert len(detail["trials"]) == len(
            [t for t in detail["trials"] if t["state"] in ("Complete", "Fail")]
        )
        assert sum(t["state"] == "Complete" for t in detail["trials"]) == 3
        assert detail["objective_names"] == OBJECTIVES
        attrs = {a["key"] for t in detail["trials"] for a in t["user_attrs"]}
        assert {"obj_accuracy", "technique", "arch"} <= attrs
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err and " 500 " not in err, err
