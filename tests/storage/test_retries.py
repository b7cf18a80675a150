"""What the README says about storage retries is what the code does: 4 tries in all (the
first and 3 retries, after 1, 2 and 4 s), then one line (issue 12)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from moo_compress.errors import MooCompressError
from moo_compress.storage import with_retries


def test_a_lost_connection_is_tried_4_times_after_1_2_and_4_seconds(monkeypatch):
    sleeps, calls = [], []
    monkeypatch.setattr("moo_compress.storage._connect.time.sleep", sleeps.append)

    def dead():
        calls.append(1)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    with pytest.raises(MooCompressError) as info:
        with_retries(dead, "postgresql://u:pw@db/studies")
    assert len(calls) == 4 and sleeps == [1.0, 2.0, 4.0]
    text = str(info.value)
    assert "(4 attempts)" in text and "\n" not in text and ":pw@" not in text
