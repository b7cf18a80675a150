"""Storage passwords: hidden in messages, and never on a spawned worker's command line."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest

from moo_compress.storage import redact
from tests.conftest import write_study


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgresql://user:s3cret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://:s3cret@host:5432/db", "postgresql://:***@host:5432/db"),
        ("postgresql://user@corp:s3cret@host/db", "postgresql://user@corp:***@host/db"),
        ("postgresql://user:s3c@ret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:s3/cret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://host/db?password=s3cret", "postgresql://host/db?password=***"),
        (
            "postgresql://u@host/db?sslmode=x&PassWord=s3cret&a=1",
            "postgresql://u@host/db?sslmode=x&PassWord=***&a=1",
        ),
        ("mysql://host/db?passwd=s3cret;charset=utf8", "mysql://host/db?passwd=***;charset=utf8"),
        ("postgresql://host/db?PWD=s3cret", "postgresql://host/db?PWD=***"),
        ("postgresql://host/db?sslpassword=s3cret", "postgresql://host/db?sslpassword=***"),
        ("host=h user=u password='s3 cret' dbname=d", "host=h user=u password=*** dbname=d"),
        ("sqlite:///data/study.db", "sqlite:///data/study.db"),
        ("postgresql://user@host:5432/db", "postgresql://user@host:5432/db"),
        ("postgresql://host/db?compass=north", "postgresql://host/db?compass=north"),
    ],
)
def test_redact_hides_every_password_form(url, expected):
    assert redact(url) == expected
    message = redact(f"error: cannot open storage {url}: OperationalError: timeout")
    assert message.startswith(f"error: cannot open storage {expected}")
    assert message.endswith(" OperationalError: timeout")
    assert "s3" not in message and "cret" not in message


def test_spawned_workers_get_the_storage_url_outside_their_command_line(tmp_path, monkeypatch):
    from moo_compress import workers

    url = "postgresql://user:s3cret@db.example:5432/studies?password=s3cret"
    started = []

    class FakeProcess:
        returncode = 0

        def __init__(self, args, env, **kwargs):
            started.append((list(args), dict(env)))
            self.stderr = io.StringIO("")

        def poll(self):
            return 0

    monkeypatch.setattr(workers.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(workers.st, "load_existing", lambda cfg, url: None)
    monkeypatch.setenv(workers.STORAGE_VARIABLE, "postgresql://stale/elsewhere")
    cfg = SimpleNamespace(storage=url, n_trials=4, name="s", default_storage=lambda: "")
    study = str(tmp_path / "study.yaml")
    workers.spawn_workers(cfg, study, 2, storage=url, show_progress=False, log=lambda m: None)
    assert len(started) == 2
    for args, env in started:
        assert "s3cret" not in " ".join(args) and "--storage" not in args
        assert args[args.index("worker") + 1] == study
        assert env[workers.STORAGE_VARIABLE] == url
    started.clear()
    workers.spawn_workers(cfg, study, 1, storage=None, show_progress=False, log=lambda m: None)
    assert workers.STORAGE_VARIABLE not in started[0][1]  # the study file's storage then


def test_worker_reads_the_storage_url_from_the_environment(tmp_path, capsys, monkeypatch):
    from moo_compress.cli import main

    study = write_study(tmp_path, driver="optuna-random", cache_dir=tmp_path / "cache")
    monkeypatch.setenv("MOO_COMPRESS_STORAGE", "user:s3cret@nowhere")
    assert main(["worker", str(study)]) == 2
    err = capsys.readouterr().err
    assert "MOO_COMPRESS_STORAGE: must be an Optuna storage URL" in err
    assert "Got 19 characters without '://' instead" in err
    assert "s3cret" not in err and len(err.strip().splitlines()) == 1
    assert "MOO_COMPRESS_STORAGE" not in os.environ  # not handed on to child processes
    assert not study.with_suffix(".db").exists() and not (tmp_path / "cache").exists()


def test_a_storage_whose_tables_another_process_is_creating_is_opened_again(monkeypatch):
    """Two processes opening a new SQLite file at once both create its tables; the one that
    loses (``UNIQUE constraint failed: alembic_version.version_num``) opens it again."""
    from moo_compress.errors import MooCompressError
    from moo_compress.storage import _connect

    calls = []

    def racing(url, heartbeat):
        calls.append(url)
        if len(calls) < 3:
            raise RuntimeError("UNIQUE constraint failed: alembic_version.version_num")
        return "storage"

    monkeypatch.setattr(_connect, "_open", racing)
    monkeypatch.setattr(_connect.time, "sleep", lambda s: None)
    assert _connect.open_storage("sqlite:///x.db") == "storage" and len(calls) == 3

    def broken(url, heartbeat):
        calls.append(url)
        raise RuntimeError("unable to open database file")

    calls.clear()
    monkeypatch.setattr(_connect, "_open", broken)
    with pytest.raises(MooCompressError, match="cannot open storage sqlite:///x.db"):
        _connect.open_storage("sqlite:///x.db")
    assert len(calls) == 1  # not a race: no second attempt
