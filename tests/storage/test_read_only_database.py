"""A study database that cannot be written is named with its cause (issue 12: storage
failures surfaced as Optuna's "exceeding max length" with no path)."""

from __future__ import annotations

import optuna
import pytest

from moo_compress import storage as st
from moo_compress.config import load_study_config
from moo_compress.errors import MooCompressError
from moo_compress.storage._connect import _read_only_url
from tests.conftest import write_study


def test_a_read_only_database_names_the_file_and_the_cause(tmp_path, monkeypatch):
    path = write_study(tmp_path, cache_dir=tmp_path / "cache")
    cfg = load_study_config(path)
    url = st.storage_url(cfg)
    st.create_or_load(cfg, url)
    db = tmp_path / "study.db"
    before = db.read_bytes()
    # SQLite's read-only mode (tests run as root, where chmod does not stop writes)
    study = optuna.load_study(study_name="tiny", storage=st.open_storage(_read_only_url(db)))
    with pytest.raises(optuna.exceptions.StorageInternalError, match="exceeding max length"):
        study.set_user_attr("x", 1)  # what Optuna alone says
    sleeps = []
    monkeypatch.setattr("moo_compress.storage._connect.time.sleep", sleeps.append)
    with pytest.raises(MooCompressError) as info:
        st.with_retries(lambda: study.set_user_attr("x", 1), url, delay=0.01)
    text = str(info.value)
    assert str(db) in text and "readonly database" in text and "not writable" in text
    assert "exceeding max length" not in text and "\n" not in text
    assert sleeps == []  # a cause no retry can cure fails at once
    assert db.read_bytes() == before
