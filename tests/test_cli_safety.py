"""Commands that must not mislead (issue 12): read-only commands never write, foreign and
changed studies are named, a study is readable from its database alone, bad storage and
spaces are refused before anything is written, storage failures name the file and cause.

Fast: the studies here are made directly in storage (no training); the CLI runs in-process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import storage as st
from moo_compress.cli import main
from moo_compress.config import load_study_config
from moo_compress.errors import ConfigError
from tests.conftest import write_study

OBJECTIVES = ("accuracy", "cr", "mce", "proxy_purity")


@pytest.fixture
def run(capsys):
    def _run(*args: str):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def make_study(folder, *, name="tiny", n_complete=3, failures=(), n_trials=5, running=0, seed=None):
    """A moo-compress study made as `search` makes it (``seed``: as `search --seed` makes
    it), with fake completed trials."""
    path = write_study(folder, name=name, n_trials=n_trials, cache_dir=folder / "cache")
    cfg = load_study_config(path, seed=seed)
    url = st.storage_url(cfg)
    study = st.create_or_load(cfg, url)
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    for i in range(n_complete):
        trial = study.ask()
        config = cfg.space.suggest(trial)
        trial.set_user_attr("config", config)
        trial.set_user_attr("config_key", cfg.space.config_key(config))
        # a trade-off: every trial is Pareto-optimal
        values = {"accuracy": 90.0 + i, "cr": 10.0 - i, "mce": 100.0, "proxy_purity": 0.9}
        trial.set_user_attr("objectives", values)
        study.tell(trial, [values[n] for n in cfg.objective_names])
    for reason in failures:
        trial = study.ask()
        trial.set_user_attr("fail_reason", reason)
        study.tell(trial, state=TrialState.FAIL)
    for _ in range(running):
        study.ask()
    return path, cfg, url


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# -- 1. read-only commands never write ------------------------------------------------------
@pytest.mark.parametrize(
    "command", [["status"], ["pareto"], ["pareto", "--all"], ["report", "--proxy"]]
)
def test_read_commands_refuse_an_empty_file_and_leave_it_empty(tmp_path, run, command):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    code, out, err = run(*command, study, "--storage", f"sqlite:///{db}")
    assert code == 2
    line = _one_line_error(err)
    assert str(db) in line and "empty file (0 bytes)" in line and "not an Optuna" in line
    assert db.stat().st_size == 0


def test_export_refuses_an_empty_file_and_leaves_it_empty(tmp_path, run):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    code, _, err = run("export", study, "--storage", f"sqlite:///{db}", "--out", tmp_path / "x")
    assert code == 2 and "empty file (0 bytes)" in _one_line_error(err)
    assert db.stat().st_size == 0
    assert not (tmp_path / "x").exists() and not (tmp_path / "cache").exists()


def test_read_commands_create_no_database(tmp_path, run):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    before = _files(tmp_path)
    code, _, err = run("status", study)
    assert code == 2
    line = _one_line_error(err)
    assert str(tmp_path / "study.db") in line and "no such study database" in line
    assert _files(tmp_path) == before  # no study.db appeared


def test_read_commands_never_change_an_existing_database(tmp_path, run):
    path, _, url = make_study(tmp_path)
    db = tmp_path / "study.db"
    before = db.read_bytes()
    for command in (["status"], ["pareto"], ["pareto", "--all"], ["report", "--proxy"]):
        code, _, err = (
            run(*command, path, "--out", tmp_path / "rep")
            if command[0] == "report"
            else run(*command, path)
        )
        assert code == 0, err
    assert db.read_bytes() == before


# -- 2. a foreign study of the same name -----------------------------------------------------
def test_foreign_optuna_study_is_refused_in_one_line(tmp_path, run):
    study = write_study(tmp_path, name="tiny", cache_dir=tmp_path / "cache")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    foreign = optuna.create_study(study_name="tiny", storage=url, directions=["maximize"] * 2)
    for i in range(3):
        foreign.tell(foreign.ask(), [i, 1.0])
    for command in (["status"], ["pareto", "--all"], ["pareto"]):
        code, out, err = run(*command, study)
        assert code == 2, (out, err)
        assert "not made by moo-compress" in _one_line_error(err)
        assert "complete" not in out


def test_unknown_study_name_lists_the_studies_there(tmp_path, run):
    _, _, url = make_study(tmp_path, name="alpha")
    optuna.create_study(study_name="beta", storage=url)
    code, _, err = run("status", "--storage", url, "--study", "gamma")
    assert code == 2
    line = _one_line_error(err)
    assert "no study 'gamma'" in line and "'alpha'" in line and "'beta'" in line


# -- 3. a study file changed after the search ------------------------------------------------
def _replace_objectives(path):
    text = path.read_text().replace(
        "{name: proxy_purity, direction: maximize}", "{name: latency_ms, direction: minimize}"
    )
    path.write_text(text)


def test_status_and_pareto_warn_which_keys_changed(tmp_path, run):
    path, _, _ = make_study(tmp_path)
    _replace_objectives(path)
    for command in ("status", "pareto"):
        code, out, err = run(command, path)
        assert code == 0, err
        (line,) = err.splitlines()
        assert line.startswith("warning: ") and "changed: objectives" in line
    # both show the study as searched: the stored objectives, the same archive
    code, out, _ = run("pareto", path, "--format", "json")
    assert '"proxy_purity"' in out
    code, out, _ = run("status", path)
    assert "archive     3 Pareto-optimal models" in out


def test_a_seed_given_to_search_is_part_of_the_study_not_an_edit_of_its_file(tmp_path, run):
    # the file says seed 3 (write_study); the study was searched with --seed 5
    path, _, url = make_study(tmp_path, seed=5, n_trials=3)
    assert st.stored_meta(url, "tiny")["overrides"] == {"study.seed": {"file": 3, "value": 5}}
    for command in (["status"], ["pareto"], ["pareto", "--all"]):
        code, out, err = run(*command, path)
        assert code == 0 and err == "", err
    # resuming: without --seed (the seed it was searched with, said once), with the same
    # --seed, and with --n-trials (a budget for this run, no edit either)
    for extra in ([], ["--seed", "5"], ["--n-trials", "3"]):
        code, out, err = run("search", path, "--no-progress", *extra)
        assert code == 0, err
        assert "3 complete, 0 failed" in out
        said = "note: study 'tiny' was searched with --seed 5 (the study file says 3)"
        assert (said in err) == (extra != ["--seed", "5"]), err
        assert "warning" not in err and "changed" not in err
        assert run("status", path)[2] == ""
    # another seed is another study: refused before anything is written, naming --seed
    db = (tmp_path / "study.db").read_bytes()
    code, _, err = run("search", path, "--no-progress", "--seed", "6")
    assert code == 2
    assert _one_line_error(err) == (
        "error: --seed: must match the existing study's seed 5 (it was searched with --seed 5) "
        "to resume it. Got 6 instead (for another seed, give the study a new study.name)."
    )
    assert (tmp_path / "study.db").read_bytes() == db
    # a real edit of the file's seed is still an edit: warned about, and refused by search
    path.write_text(path.read_text().replace("seed: 3", "seed: 7"))
    code, _, err = run("status", path)
    assert code == 0 and "changed: study.seed" in err
    code, _, err = run("search", path, "--no-progress")
    assert code == 2 and "study.seed: must match the existing study's seed 5" in err


def test_search_refuses_a_changed_study_before_anything_is_written(tmp_path, run):
    path, _, _ = make_study(tmp_path)
    _replace_objectives(path)
    text = path.read_text().replace("baseline: {epochs: 4", "baseline: {epochs: 5")
    path.write_text(text)
    before = _files(tmp_path)
    db = (tmp_path / "study.db").read_bytes()
    code, _, err = run("search", path, "--no-progress")
    assert code == 2
    line = _one_line_error(err)
    assert "changed since study 'tiny' was created" in line
    assert "objectives" in line and "baseline.epochs" in line
    assert _files(tmp_path) == before and not (tmp_path / "cache").exists()
    assert (tmp_path / "study.db").read_bytes() == db


def test_search_refuses_a_foreign_study_before_anything_is_written(tmp_path, run, monkeypatch):
    monkeypatch.setattr("moo_compress.storage._study.SETTLE_SECONDS", 0.3)
    study = write_study(tmp_path, name="tiny", cache_dir=tmp_path / "cache")
    optuna.create_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'study.db'}")
    code, _, err = run("search", study, "--no-progress")
    assert code == 2 and "moo-compress did not create" in _one_line_error(err)
    assert not (tmp_path / "cache").exists()


def test_a_study_another_worker_is_still_creating_is_not_foreign(tmp_path):
    """A racing worker that finds the study before its creator has written the record
    waits for the record instead of calling the study foreign (CI failure in
    test_racing_workers); a foreign study with trials is refused at once."""
    from moo_compress.storage import _study

    cfg = load_study_config(write_study(tmp_path, name="tiny", cache_dir=tmp_path / "cache"))
    url = st.storage_url(cfg)
    bare = optuna.create_study(study_name="tiny", storage=url, directions=cfg.directions)
    # the creator's remaining write, as create_or_load makes it after create_study
    record = {"fingerprint": cfg.fingerprint(), "seed": cfg.seed}
    writer = threading.Timer(0.5, lambda: _study.write_study_meta(bare, record))
    start = time.monotonic()
    writer.start()
    try:
        st.check_existing_study(cfg, url)
    finally:
        writer.join()
    assert 0.4 < time.monotonic() - start < _study.SETTLE_SECONDS

    other = tmp_path / "other"
    other.mkdir()
    foreign = load_study_config(write_study(other, name="foreign", cache_dir=other / "cache"))
    optuna.create_study(study_name="foreign", storage=url).add_trial(
        optuna.trial.create_trial(value=1.0, state=TrialState.COMPLETE)
    )
    start = time.monotonic()
    with pytest.raises(ConfigError, match="moo-compress did not create"):
        st.check_existing_study(foreign, url)
    assert time.monotonic() - start < 2.0


# -- 4. from the database alone; skipped and abandoned apart; the budget ---------------------
def test_status_pareto_report_from_the_database_alone(tmp_path, run):
    failures = [
        "ValueError: boom",
        "skipped: the budget is met by completed and running trials",
        "skipped: the budget is met by completed and running trials",
        "abandoned: its worker stopped before its first heartbeat",
        "duplicate of trial 0: configuration already evaluated",
        st.INTERRUPTED,
    ]
    path, _, url = make_study(tmp_path, failures=failures, n_trials=7)
    path.unlink()  # no study file at all
    (tmp_path / "space.yaml").unlink()
    code, out, err = run("status", "--storage", url, "--study", "tiny")
    assert code == 0, err
    assert "3/7 complete, 1 failed, 0 running" in out
    assert "2 proposals skipped" in out and "1 abandoned" in out
    assert "1 interrupted" in out and "1 duplicate proposals skipped" in out
    assert "budget      7 completed trials" in out
    code, out, err = run("pareto", "--storage", url, "--study", "tiny", "--format", "csv")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 + 3
    code, out, err = run("pareto", "--storage", url, "--study", "tiny")
    assert code == 0 and "prune_ratio" in out and "share of the archive (3 models)" in out
    code, out, err = run(
        "report", "--storage", url, "--study", "tiny", "--proxy", "--out", tmp_path / "r"
    )
    assert code == 0, err


def test_read_commands_without_a_study_say_what_to_give(tmp_path, run):
    code, _, err = run("status")
    assert code == 2 and "--storage URL and --study NAME" in _one_line_error(err)


# -- 5. --select with a malformed number -----------------------------------------------------
def test_export_select_with_a_malformed_number_exits_2(tmp_path, run):
    path, _, _ = make_study(tmp_path)
    code, _, err = run("export", path, "--out", tmp_path / "x", "--select", "accuracy>=1.2.3")
    assert code == 2
    assert "--select" in _one_line_error(err) and "'accuracy>=1.2.3'" in err


# -- 7. report with no flag ------------------------------------------------------------------
def test_report_without_a_flag_explains_what_it_can_produce(tmp_path, run):
    code, out, err = run("report")
    assert code == 0 and err == ""
    assert "--proxy" in out and "Kendall tau" in out


# -- 9/10. storage and space are checked before anything is prepared ------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://bar", "not a storage URL this installation can open"),
        ("sqlite:////nonexistent-dir/x/study.db", "folder that does not exist"),
        ("sqlite://", "in-memory SQLite database"),
        ("sqlite:///:memory:", "in-memory SQLite database"),
        ("sqlite:///file::memory:?cache=shared&uri=true", "in-memory SQLite database"),
    ],
)
def test_search_refuses_a_bad_storage_before_anything_is_written(tmp_path, run, url, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    before = _files(tmp_path)
    code, _, err = run("search", study, "--storage", url, "--no-progress")
    assert code == 2
    assert expected in _one_line_error(err)
    assert _files(tmp_path) == before  # no cache dir, no database


def test_worker_refuses_in_memory_storage(tmp_path, run):
    study = write_study(tmp_path, driver="optuna-random", cache_dir=tmp_path / "cache")
    before = _files(tmp_path)
    code, _, err = run("worker", study, "--storage", "sqlite://")
    assert code == 2 and "in-memory SQLite database" in _one_line_error(err)
    assert _files(tmp_path) == before


def test_search_refuses_an_all_fixed_space_before_anything_is_written(tmp_path, run):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "space.yaml").write_text("variables:\n  quant_bits: 8\n  prune_ratio: 0.5\n")
    before = _files(tmp_path)
    code, _, err = run("search", study, "--no-progress")
    assert code == 2
    line = _one_line_error(err)
    assert "space.yaml: variables: has no searched variable" in line
    assert _files(tmp_path) == before  # no study.db, no cache


# -- 11. storage failures name the file and the cause ---------------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (os.urandom(3000), "not a SQLite database"),
        (b"SQLite format 3\x00" + os.urandom(8000), "damaged or unreadable SQLite database"),
    ],
)
@pytest.mark.parametrize("command", ["status", "search"])
def test_a_file_that_is_not_a_database_is_named(tmp_path, run, content, expected, command):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    db = tmp_path / "study.db"
    db.write_bytes(content)
    args = [command, study] + (["--no-progress"] if command == "search" else [])
    code, _, err = run(*args)
    assert code == 2
    line = _one_line_error(err)
    assert str(db) in line and expected in line
    assert db.read_bytes() == content and not (tmp_path / "cache").exists()


@pytest.fixture
def full_disk():
    """Call it: from then on no new SQLite connection may grow its file (SQLITE_FULL)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def limit(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            pages = dbapi_connection.execute("pragma page_count").fetchone()[0]
            dbapi_connection.execute(f"pragma max_page_count = {max(pages, 1)}")

    yield lambda: event.listen(Engine, "connect", limit)
    if event.contains(Engine, "connect", limit):
        event.remove(Engine, "connect", limit)


def test_disk_full_names_the_database_file_and_the_cause(tmp_path, full_disk):
    from moo_compress.errors import MooCompressError

    _, _, url = make_study(tmp_path, n_complete=1)
    full_disk()
    study = optuna.load_study(study_name="tiny", storage=st.open_storage(url))
    with pytest.raises(optuna.exceptions.StorageInternalError, match="exceeding max length"):
        study.set_user_attr("big", "x" * 200_000)  # what Optuna alone says
    with pytest.raises(MooCompressError) as info:
        st.with_retries(lambda: study.set_user_attr("big", "x" * 200_000), url, delay=0.01)
    text = str(info.value)
    assert str(tmp_path / "study.db") in text and "database or disk is full" in text
    assert "exceeding max length" not in text


def test_cli_names_the_database_file_of_an_unwrapped_storage_failure(tmp_path, run, monkeypatch):
    from sqlalchemy.exc import OperationalError

    path, _, _ = make_study(tmp_path)

    def fails(*_args, **_kwargs):
        try:
            raise OperationalError(
                "INSERT", {}, sqlite3.OperationalError("database or disk is full")
            )
        except OperationalError as exc:
            raise optuna.exceptions.StorageInternalError(
                "An exception is raised during the commit. This typically happens due to "
                "invalid data in the commit, e.g. exceeding max length."
            ) from exc

    monkeypatch.setattr("moo_compress.report.status", fails)
    code, _, err = run("status", path)
    assert code == 1
    line = _one_line_error(err)
    assert str(tmp_path / "study.db") in line and "database or disk is full" in line


# -- 6. study.tell runs inside the storage retries -------------------------------------------
def test_tell_is_retried_after_a_lost_connection(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from moo_compress.evaluation import TrialResult
    from moo_compress.search import SearchSession

    monkeypatch.setattr("moo_compress.storage._connect.time.sleep", lambda s: None)
    _, cfg, url = make_study(tmp_path, n_complete=0)
    study = optuna.load_study(study_name="tiny", storage=url)
    session = SearchSession(cfg, study, evaluator=None, show_progress=False)
    real_tell = study.tell
    calls = []

    def flaky_tell(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return real_tell(*args, **kwargs)

    monkeypatch.setattr(study, "tell", flaky_tell)
    trial = study.ask()
    config = cfg.space.suggest(trial)
    values = {"accuracy": 90.0, "cr": 5.0, "mce": 100.0, "proxy_purity": 0.9}
    result = TrialResult(values, {}, "original", b"x", 0.1)
    outcome = session.evaluate_trial(trial, config, compute=lambda: result)
    assert outcome.complete and len(calls) == 2
    assert calls[1]["skip_if_finished"] is True
    (done,) = optuna.load_study(study_name="tiny", storage=url).get_trials()
    assert done.state == TrialState.COMPLETE


# -- 12. RUNNING trials: only dead ones are marked interrupted -------------------------------
def _beating_study(tmp_path):
    from moo_compress.heartbeat import heartbeat

    path = write_study(tmp_path, cache_dir=tmp_path / "cache")
    cfg = load_study_config(path)
    url = st.storage_url(cfg)
    study = st.create_or_load(cfg, url, heartbeat={"interval": 1, "grace": 2, "max_retry": 0})
    return study, heartbeat


def test_search_holding_the_lock_fails_search_trials_but_not_live_worker_trials(tmp_path):
    study, heartbeat = _beating_study(tmp_path)
    dead = study.ask()  # a killed search's trial
    dead.set_user_attr("config", {"quant_bits": 8})
    dead.set_user_attr("config_key", "k-dead")
    live = study.ask()  # a worker's trial, beating
    live.set_user_attr("worker", "w1")
    with heartbeat(study, live):
        configs = st.mark_interrupted(study, sole=True, grace_seconds=2)
        states = {t.number: t.state for t in study.get_trials()}
    assert states[dead.number] == TrialState.FAIL
    assert states[live.number] == TrialState.RUNNING
    assert configs == [{"quant_bits": 8}]


def test_on_a_database_server_a_still_beating_search_trial_is_refused(tmp_path):
    from moo_compress.errors import ConfigError

    study, heartbeat = _beating_study(tmp_path)
    live = study.ask()
    with heartbeat(study, live):
        with pytest.raises(ConfigError) as info:
            st.mark_interrupted(study, sole=False, grace_seconds=2, wait_seconds=1)
    assert "running in another process" in str(info.value) and "worker" in str(info.value)
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_on_a_database_server_a_stale_search_trial_is_marked_interrupted(tmp_path):
    study, _ = _beating_study(tmp_path)
    stopped = study.ask()
    study._storage.record_heartbeat(stopped._trial_id)  # then its process died
    st.mark_interrupted(study, sole=False, grace_seconds=2, wait_seconds=5)
    (t,) = study.get_trials()
    assert t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == st.INTERRUPTED


def test_a_second_search_on_a_locked_sqlite_study_is_refused(tmp_path):
    from moo_compress.errors import ConfigError

    url = f"sqlite:///{tmp_path / 'study.db'}"
    with st.search_lock(url) as lock:
        assert lock == tmp_path / "study.db.lock"
        with pytest.raises(ConfigError) as info:
            with st.search_lock(url):
                pass
        text = str(info.value)
        assert f"pid {os.getpid()}" in text and "moo-compress worker" in text
    assert not (tmp_path / "study.db.lock").exists()
    with st.search_lock(url):  # free again
        pass
