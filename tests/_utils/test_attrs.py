"""Long JSON values split into parts of at most 1,024 characters, and read back whole."""

from __future__ import annotations

import json

import pytest

from moo_compress._utils.attrs import MAX_CHARS, get_json, has_json, put_json


@pytest.mark.parametrize(
    "value",
    [
        {"short": 1},
        {"ce": {f"corruption_{i}": [0.1 * j for j in range(5)] for i in range(40)}},
        ['quotes " and \\ backslashes ' * 50, "é" * 3000],
    ],
)
def test_round_trip_and_every_part_fits(value):
    attrs: dict = {}
    put_json(attrs.__setitem__, "k", value)
    assert has_json(attrs, "k")
    assert get_json(attrs, "k") == value
    for key, stored in attrs.items():
        assert len(json.dumps(stored)) <= MAX_CHARS, key
    long = len(json.dumps(value)) > MAX_CHARS
    assert ("k" in attrs) is not long and ("k.parts" in attrs) is long


def test_values_stored_whole_by_older_code_and_missing_ones():
    assert get_json({"k": {"a": [1] * 2000}}, "k") == {"a": [1] * 2000}
    assert get_json({}, "k", None) is None and not has_json({}, "k")
    with pytest.raises(KeyError):
        get_json({}, "k")
