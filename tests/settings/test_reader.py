"""The YAML reader's limits on hostile files, and bounded rendering of bad values."""

from __future__ import annotations

import pytest

from moo_compress.errors import ConfigError
from moo_compress.settings import reader as _reader
from moo_compress.settings.reader import describe


def test_yaml_limits(tmp_path):
    load_yaml = _reader.load_yaml
    path = tmp_path / "x.yaml"
    # aliases to shared values are fine up to a small expansion
    path.write_text("a: &x {lr: 0.1}\nb: *x\nc: {<<: *x, momentum: 0.9}\n")
    assert load_yaml(path) == {
        "a": {"lr": 0.1},
        "b": {"lr": 0.1},
        "c": {"lr": 0.1, "momentum": 0.9},
    }
    cases = [
        (
            "\n".join(f"k{i}: &k{i} 1" for i in range(101))
            + "\n"
            + "\n".join(f"j{i}: *k{i}" for i in range(101)),
            "uses more than 100 YAML aliases",
        ),
        (
            f"big: &b [{', '.join(['x'] * 200)}]\nmore: [{', '.join(['*b'] * 60)}]\n",
            f"at most {_reader.MAX_ALIAS_GROWTH} more are allowed",
        ),
        ("a: &r [1, *r]\n", "a[1]: is a recursive YAML alias (line 1)"),
        ("a: " + "[" * 60 + "]" * 60 + "\n", "nests mappings and lists deeper than 50 levels"),
        (
            "d: &d " + "[" * 45 + "]" * 45 + "\ne: [[[[[[[*d]]]]]]]\n",
            "e[0][0][0][0][0][0][0]: nests",
        ),
        ("n: " + "9" * 5000 + "\n", "holds a value that cannot be read (ValueError"),
        ("a: !!python/object/apply:os.system [touch pwned]\n", "is not valid YAML"),
    ]
    for text, expected in cases:
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert expected in str(info.value), str(info.value)
        assert len(str(info.value)) < 600
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(b"# " + b"x" * 1_000_001 + b"\n")
    with pytest.raises(ConfigError, match=r"at most 1000000 bytes \(1 MB\).*Got 1000004 bytes"):
        load_yaml(path)


def test_describe_is_bounded():
    nested: list = ["lol"] * 9
    for _ in range(9):
        nested = [nested] * 9  # 9**10 leaves: rendering it in full would take gigabytes
    text = describe(nested)
    assert len(text) < 400 and text.startswith("[[[[") and "..." in text
    assert describe("x" * 1_000_000) == repr("x" * 60) + "... (1000000 characters)"
    assert describe({"a": 1, "b": [True, None]}) == "{'a': 1, 'b': [True, None]}"
    assert describe(True) == "true" and describe(None) == "null" and describe(0.5) == "0.5"
    assert describe(10**400).startswith("<an int of")
