"""MOO_COMPRESS_THREADS: a bad value is bad input (one line, exit code 2), not a traceback."""

from __future__ import annotations

import pytest

from moo_compress.cli import main
from tests.conftest import write_study


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "4 threads", "99999999999999999999"])
def test_bad_thread_count_exits_2(tmp_path, capsys, monkeypatch, value):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    monkeypatch.setenv("MOO_COMPRESS_THREADS", value)
    assert main(["search", str(study), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: MOO_COMPRESS_THREADS: must be an int in [1, 1024] (torch threads per "
        f"evaluation) or unset. Got {value!r} instead.\n"
    )
    assert not study.with_suffix(".db").exists() and not (tmp_path / "cache").exists()


def test_thread_count_is_read(monkeypatch):
    from moo_compress.workers import env_threads

    monkeypatch.setenv("MOO_COMPRESS_THREADS", " 3 ")
    assert env_threads() == 3
    monkeypatch.setenv("MOO_COMPRESS_THREADS", "")
    assert env_threads() is None
    monkeypatch.delenv("MOO_COMPRESS_THREADS")
    assert env_threads() is None
