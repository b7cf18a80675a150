"""--select: a malformed number is bad input (ConfigError, exit code 2), not a crash."""

from __future__ import annotations

import pytest

from moo_compress.errors import ConfigError
from moo_compress.selection import parse_selection

KNOWN = ["accuracy", "cr"]


@pytest.mark.parametrize("text", ["accuracy>=1.2.3", "cr>=.", "cr>=1..2", "accuracy>=1e"])
def test_malformed_number_is_a_config_error(text):
    with pytest.raises(ConfigError) as info:
        parse_selection(text, KNOWN)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("select: ") and "\n" not in str(info.value)  # CLI: --select


@pytest.mark.parametrize(
    ("text", "value"),
    [("accuracy>=95", 95.0), ("cr>=.5", 0.5), ("cr>=1.", 1.0), ("cr<=-1e3", -1e3)],
)
def test_wellformed_numbers_parse(text, value):
    (clause,) = parse_selection(text, KNOWN)
    assert clause.value == value
