"""Digests and derived seeds keep the values every stored study and cache was made with."""

from __future__ import annotations

from moo_compress._utils.hashing import derived_seed, digest


def test_known_values():
    # the formulas the evaluation, proposal and worker seeds used before they were shared
    assert derived_seed(0, "abc") == 798178147  # int(sha256(b"0:abc")[:8 hex], 16) % (2**31 - 1)
    assert derived_seed(3, "w0", 5) == derived_seed("3:w0:5")
    assert digest({"b": 1, "a": [1, 2]}) == digest({"a": [1, 2], "b": 1})
    assert len(digest("x")) == 16 and len(digest("x", 8)) == 8
