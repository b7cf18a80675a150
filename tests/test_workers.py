"""Several workers on one study: PostgreSQL workers surviving a SIGKILL, Dask generations for
pymoo, the SQLite warning and credential redaction.

The PostgreSQL tests need a server: ``.ci/run`` starts one (``.ci/postgres.sh``) and passes
its URL in ``MOO_COMPRESS_TEST_POSTGRES``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT, cli, write_study

PG = os.environ.get("MOO_COMPRESS_TEST_POSTGRES")
needs_pg = pytest.mark.skipif(
    not PG, reason="MOO_COMPRESS_TEST_POSTGRES is not set (.ci/run sets it)"
)

WORKER_SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.1}
  cluster_count: {type: categorical, choices: [0, 8, 16]}
  quant_bits: {type: categorical, choices: [4, 8, 32]}
  finetune_epochs: 1
"""
FAST = (
    "workers: {heartbeat_seconds: 1, grace_seconds: 4, max_retry: 3}\nrecord: [accuracy, cr, mce]\n"
)


def _trials(name, url):
    import optuna

    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def _start_worker(study, wid):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moo_compress",
            "worker",
            str(study),
            "--storage",
            PG,
            "--worker-id",
            wid,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MOO_COMPRESS_THREADS": "1"},
    )


@needs_pg
def test_three_workers_survive_a_killed_worker(tmp_path, shared_cache):
    from optuna.trial import TrialState

    name = f"w{uuid.uuid4().hex[:10]}"
    n = 9
    study = write_study(
        tmp_path, name=name, driver="optuna-random", n_trials=n, cache_dir=shared_cache, extra=FAST
    )
    (tmp_path / "space.yaml").write_text(WORKER_SPACE)
    # the first worker prepares the baseline; then three run together
    workers = [_start_worker(study, f"w{i}") for i in range(3)]
    deadline = time.time() + 300
    killed = None
    while time.time() < deadline and killed is None:
        time.sleep(0.2)
        try:
            trials = _trials(name, PG)
        except KeyError:
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING]
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        evaluating = [
            t
            for t in running
            if t.user_attrs.get("worker") == "w0" and "config_key" in t.user_attrs
        ]
        if len(running) == 3 and len(done) >= 1 and evaluating:
            # freeze w0 first, then check its trial is still running: otherwise it may finish
            # between the read above and the kill, leaving nothing stale to detect
            workers[0].send_signal(signal.SIGSTOP)
            time.sleep(0.5)
            now = {t.number: t.state for t in _trials(name, PG)}
            if now[evaluating[0].number] != TrialState.RUNNING:
                workers[0].send_signal(signal.SIGCONT)
                continue
            workers[0].send_signal(signal.SIGKILL)
            killed = {t.number for t in running}
    assert killed, "the three workers never ran trials at the same time"
    for w in workers[1:]:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    trials = _trials(name, PG)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == n
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    keys = [t.user_attrs["config_key"] for t in trials if t.state == TrialState.COMPLETE]
    assert len(set(keys)) == n, "a configuration was evaluated twice"
    stale = [t for t in trials if t.number in killed and t.state == TrialState.FAIL]
    assert len(stale) == 1, "the killed worker's trial is marked failed by the others"
    retried = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.user_attrs.get("config_key") == stale[0].user_attrs.get("config_key")
    ]
    # the killed trial's configuration is queued again and evaluated; only when the
    # other workers met the budget between the failure and the re-queue is the queued
    # copy taken off the queue as skipped (never left waiting)
    skipped_copy = [
        t
        for t in trials
        if t.number > stale[0].number
        and t.state == TrialState.FAIL
        and t.params == stale[0].params
        and t.user_attrs.get("fail_reason", "").startswith("skipped")
    ]
    assert retried or skipped_copy, "the killed trial's configuration was queued again"
    status = cli("status", str(study), "--storage", PG)
    assert f"{n}/{n} complete" in status.stdout, status.stdout + status.stderr
    assert "ci-secret" not in status.stdout + status.stderr
    pareto = cli("pareto", str(study), "--storage", PG, "--format", "json")
    assert pareto.returncode == 0 and pareto.stdout.strip().startswith("[")


@needs_pg
def test_search_with_local_workers_meets_the_budget_exactly(tmp_path, shared_cache):
    from optuna.trial import TrialState

    name = f"w{uuid.uuid4().hex[:10]}"
    study = write_study(
        tmp_path,
        name=name,
        driver="optuna-tpe",
        n_trials=6,
        cache_dir=shared_cache,
        extra=FAST + CONSTRAINT,
    )
    (tmp_path / "space.yaml").write_text(WORKER_SPACE)
    res = cli("search", str(study), "--storage", PG, "--n-workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "postgresql+psycopg://postgres:***@" in res.stdout
    assert "ci-secret" not in res.stdout + res.stderr
    trials = _trials(name, PG)
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 6
    _check_constraints(study, trials, ["--storage", PG])


@needs_pg
def test_mo_asha_workers_promote_each_configuration_once(tmp_path, shared_cache):
    """Two workers on PostgreSQL with the multi-fidelity driver: every (configuration, rung)
    is evaluated once, each promotion names the rung below it, the budget of full
    evaluations is met exactly and nothing is left running or queued."""
    from optuna.trial import TrialState

    from moo_compress import record

    name = f"w{uuid.uuid4().hex[:10]}"
    study = write_study(
        tmp_path, name=name, driver="mo-asha", n_trials=3, cache_dir=shared_cache, extra=FAST
    )
    text = study.read_text().replace(
        "driver: {name: mo-asha}", "driver: {name: mo-asha, eta: 2, sampler: random}"
    )
    study.write_text(text + CONSTRAINT)
    (tmp_path / "space.yaml").write_text(WORKER_SPACE)
    res = cli("search", str(study), "--storage", PG, "--n-workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    trials = _trials(name, PG)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 3
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    evaluated = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    pairs = [(record.config_key(t), record.rung(t)["rung"]) for t in evaluated]
    assert len(pairs) == len(set(pairs)), "a rung of a configuration was evaluated twice"
    assert {t.user_attrs.get("worker") for t in evaluated} <= {"local-0", "local-1"}
    by_number = {t.number: t for t in trials}
    for t in evaluated:
        info = record.rung(t)
        if info["promoted_from"] is not None:
            below = by_number[info["promoted_from"]]
            assert below.state == TrialState.PRUNED
            assert record.rung(below)["rung"] == info["rung"] - 1
            assert record.config_key(below) == record.config_key(t)
    _check_constraints(study, trials, ["--storage", PG])


CONSTRAINT = "constraints: {accuracy: {max_drop: 3.0}}\n"


def _check_constraints(study_path, trials, extra=()):
    """Every complete trial recorded the constraint relative to the baseline (each worker
    measured the same baseline), and the archive holds only feasible trials."""
    import json

    from moo_compress import record

    complete = [t for t in trials if t.state.name == "COMPLETE"]
    drops = set()
    for t in complete:
        value = record.constraints(t)["accuracy max_drop 3"]
        assert t.constraints == {"accuracy max_drop 3": value}  # Optuna's own view
        drops.add(round(value + record.objectives(t)["accuracy"], 6))  # baseline - 3
    assert len(drops) == 1, drops
    out = cli("pareto", str(study_path), "--format", "json", *extra)
    front = {r["trial"] for r in json.loads(out.stdout)}
    assert front <= {t.number for t in complete if record.is_feasible(t)}


def _archive(study_path, *extra):
    import json

    out = cli("pareto", str(study_path), "--format", "json", *extra)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in ("trial", "latency_ms")}, sort_keys=True)
        for r in rows
    )


def test_pymoo_generations_on_a_dask_local_cluster_match_a_serial_run(
    tmp_path, shared_cache, monkeypatch
):
    # results are reproducible for a given number of threads per evaluation: one here, as
    # each of the two Dask workers of this 2-core machine gets
    monkeypatch.setenv("MOO_COMPRESS_THREADS", "1")
    serial = write_study(tmp_path / "serial", n_trials=8, cache_dir=shared_cache, extra=CONSTRAINT)
    parallel = write_study(tmp_path / "dask", n_trials=8, cache_dir=shared_cache, extra=CONSTRAINT)
    assert cli("search", str(serial), "--no-progress").returncode == 0
    res = cli("search", str(parallel), "--no-progress", "--n-workers", "2")
    assert res.returncode == 0, res.stderr
    assert "8 complete, 0 failed" in res.stdout
    assert _archive(parallel) == _archive(serial)
    import optuna

    trials = optuna.load_study(
        study_name="tiny", storage=f"sqlite:///{parallel.with_suffix('.db')}"
    ).get_trials()
    _check_constraints(parallel, trials)


def test_a_trial_whose_worker_died_before_or_after_its_first_beat_is_failed(tmp_path):
    """Optuna's stale check skips trials that never beat: the worker beats synchronously on
    entry, and trials left without a configuration are failed by ``fail_abandoned_trials``."""
    import optuna
    from optuna.trial import TrialState

    from moo_compress import storage as st
    from moo_compress.heartbeat import fail_abandoned_trials, heartbeat

    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = st.open_storage(url, heartbeat={"interval": 1, "grace": 1, "max_retry": 0})
    study = optuna.create_study(study_name="s", storage=storage)
    abandoned = study.ask()  # died right after ask: no beat, no configuration
    evaluating = study.ask()  # died while evaluating: configuration and beats
    evaluating.set_user_attr("config_key", "k")
    with heartbeat(study, evaluating):
        pass
    live = study.ask()
    live.set_user_attr("config_key", "k2")
    assert fail_abandoned_trials(study, 1) == []  # too young to judge
    time.sleep(2.2)
    with heartbeat(study, live):
        optuna.storages.fail_stale_trials(study)
        assert fail_abandoned_trials(study, 1) == [abandoned.number]
    states = {t.number: t for t in study.get_trials()}
    assert states[abandoned.number].state == TrialState.FAIL
    assert "abandoned" in states[abandoned.number].user_attrs["fail_reason"]
    assert states[evaluating.number].state == TrialState.FAIL  # Optuna's stale check
    assert states[live.number].state == TrialState.RUNNING


def test_worker_with_the_budget_met_leaves_nothing_running_or_queued(tmp_path, shared_cache):
    """Once the budget is met, a worker still waits for trials that run (a dead worker's
    until its heartbeat is overdue) and takes re-queued copies off the queue as skipped."""
    import optuna
    from optuna.trial import TrialState

    from moo_compress import record
    from moo_compress import storage as st
    from moo_compress.heartbeat import heartbeat

    study_file = write_study(
        tmp_path, driver="optuna-random", n_trials=1, cache_dir=shared_cache, extra=FAST
    )
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert cli("worker", str(study_file), "--storage", url).returncode == 0
    storage = st.open_storage(url, heartbeat={"interval": 1, "grace": 4, "max_retry": 3})
    study = optuna.load_study(study_name="tiny", storage=storage)
    (done,) = study.get_trials(states=(TrialState.COMPLETE,))
    dead = study.ask()  # a worker that died while evaluating
    record.write_worker(dead, "dead")
    record.write_config(dead, done.user_attrs["config"], "dead-key")
    with heartbeat(study, dead):
        pass
    study.enqueue_trial(done.params)  # a queued copy nobody will take
    t0 = time.time()
    res = cli("worker", str(study_file), "--storage", url)
    assert res.returncode == 0, res.stderr
    assert time.time() - t0 >= 3, "the worker waited for the dead trial's heartbeat grace"
    trials = study.get_trials()
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states, states
    assert states.count(TrialState.COMPLETE) == 1
    assert trials[dead.number].state == TrialState.FAIL
    skipped = [t for t in trials if record.fail_reason(t).startswith(st.SKIPPED)]
    assert len(skipped) == 2, [
        record.fail_reason(t) for t in trials
    ]  # the queued and the re-queued


def test_worker_on_sqlite_warns_and_points_to_postgresql(tmp_path, shared_cache):
    study = write_study(
        tmp_path, driver="optuna-random", n_trials=1, cache_dir=shared_cache, extra=FAST
    )
    res = cli("worker", str(study))
    assert res.returncode == 0, res.stderr
    assert "several processes on one SQLite file" in res.stderr
    assert "postgresql://" in res.stderr


def test_worker_refuses_pymoo_studies(tmp_path):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    res = cli("worker", str(study))
    assert res.returncode == 2
    assert "driver.name: `worker` runs Optuna samplers" in res.stderr


def test_credentials_never_appear_in_errors(tmp_path):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    url = "postgresql+psycopg://alice:topsecret@127.0.0.1:9/nowhere"
    res = cli("status", str(study), "--storage", url)
    assert res.returncode != 0
    assert "topsecret" not in res.stdout + res.stderr
    assert "alice:***@127.0.0.1" in res.stderr


def test_lost_connection_is_retried_then_reported_without_password():
    from sqlalchemy.exc import OperationalError

    from moo_compress.errors import MooCompressError
    from moo_compress.storage import with_retries

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "ok"

    url = "postgresql://bob:hunter2@db:5432/studies"
    assert with_retries(flaky, url, delay=0.01) == "ok" and len(calls) == 3

    def dead():
        raise OperationalError(
            "SELECT 1", {}, Exception("cannot reach postgresql://bob:hunter2@db")
        )

    with pytest.raises(MooCompressError) as err:
        with_retries(dead, url, attempts=2, delay=0.01)
    assert "lost the connection to the study database postgresql://bob:***@db" in str(err.value)
    assert "hunter2" not in str(err.value)


# -- racing workers: claims decided by the database --------------------------------------
GRID_SPACE = """
variables:
  prune_ratio: {type: categorical, choices: [0.0, 0.3, 0.6]}
  quant_bits: {type: categorical, choices: [8, 32]}
  finetune_epochs: 0
"""
GRID_STUDY = """
study: {{name: {name}, seed: {seed}}}
dataset: {{name: digits, test_fraction: 0.3}}
model: {{arch: small_cnn, width: 0.5}}
baseline: {{epochs: 4, lr: 0.05}}
search_space: space.yaml
objectives:
  - {{name: accuracy, direction: maximize}}
  - {{name: cr, direction: maximize}}
record: [accuracy, cr]
driver: {driver}
budget: {{n_trials: {n_trials}}}
cache_dir: {cache}
workers: {{heartbeat_seconds: 1, grace_seconds: 20, max_retry: 3}}
"""
# Each process runs the `worker` command on every repetition's study in turn (one
# interpreter start per process, not per repetition, keeps the test short).
RUN_WORKERS = """
import sys
from moo_compress.cli import main
wid, storage, *studies = sys.argv[1:]
for n, study in enumerate(studies):  # another id, other proposals, in each repetition
    code = main(["worker", study, "--storage", storage, "--worker-id", f"{wid}-{n}", "--quiet"])
    if code:
        sys.exit(code)
"""


RACES = {  # driver section -> n_trials
    "{name: optuna-random}": 4,
    "{name: mo-asha, eta: 2, sampler: random, rungs: [{objectives: [cr]}]}": 2,
}


@needs_pg
def test_racing_workers_evaluate_each_configuration_once_and_meet_the_budget(
    tmp_path, shared_cache
):
    """4 workers on a 6-configuration grid, 5 repetitions with optuna-random and 5 with
    mo-asha (each with other worker ids, so other proposals), each worker sleeping a random 0-200 ms between suggesting and claiming
    (``MOO_COMPRESS_TEST_CLAIM_DELAY``): no configuration (mo-asha: no rung of a
    configuration) is evaluated twice, every study ends with exactly ``n_trials`` complete
    trials and nothing running or queued."""
    from optuna.trial import TrialState

    from moo_compress import record
    from moo_compress import storage as st

    studies = []
    for driver, n_trials in RACES.items():
        for rep in range(5):
            folder = tmp_path / f"{driver[7:12]}{rep}"
            folder.mkdir()
            (folder / "space.yaml").write_text(GRID_SPACE)
            name = f"race{uuid.uuid4().hex[:10]}"
            path = folder / "study.yaml"
            text = GRID_STUDY.format(
                name=name, seed=3, driver=driver, n_trials=n_trials, cache=shared_cache
            )
            path.write_text(text)
            studies.append((driver, name, path))
    # Optuna's tables and the baseline once here, not by four workers at once
    st.open_storage(PG)
    from moo_compress.config import load_study_config
    from moo_compress.evaluation import make_evaluator

    cfg = load_study_config(studies[0][2])
    make_evaluator(cfg.evaluation(), cfg.cache_dir).prepare(cfg.space.archs(cfg.arch))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MOO_COMPRESS_THREADS": "1",
        st.CLAIM_DELAY_VARIABLE: "0.2",
    }
    procs, logs = [], []
    for i in range(4):
        logs.append(tmp_path / f"w{i}.log")
        with logs[-1].open("w") as log:  # a file: a full pipe would stop the worker
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", RUN_WORKERS, f"w{i}", PG]
                    + [str(p) for _, _, p in studies],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        for p, log in zip(procs, logs, strict=True):
            assert p.wait(timeout=600) == 0, log.read_text()[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for driver in RACES:
        evaluated_twice = overtaken = 0
        for _, name, _ in [s for s in studies if s[0] == driver]:
            trials = _trials(name, PG)
            states = [t.state for t in trials]
            assert states.count(TrialState.COMPLETE) == RACES[driver], (driver, name)
            assert TrialState.RUNNING not in states and TrialState.WAITING not in states
            done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
            pairs = [(record.config_key(t), (record.rung(t) or {}).get("rung")) for t in done]
            evaluated_twice += len(pairs) - len(set(pairs))
            # a loser whose winner has a higher number: ordered by trial number, both ran
            for t in trials:
                reason = record.fail_reason(t)
                if reason.startswith(record.DUPLICATE + " of trial "):
                    overtaken += int(reason.split()[3].rstrip(":")) > t.number
        print(f"{driver}: evaluated twice {evaluated_twice}, lower trials that lost {overtaken}")
        assert evaluated_twice == 0, driver
