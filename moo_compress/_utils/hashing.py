"""Stable identities and seeds derived from them (the same inputs give the same value on
every machine and every run)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["derived_seed", "digest"]


def digest(payload: Any, length: int = 16) -> str:
    """Hex SHA-256 prefix of ``payload`` as sorted-key JSON (cache keys, fingerprints).

    Args:
        payload: Any JSON-serialisable value.
        length: Number of hex characters kept (default 16).
    """
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:length]


def derived_seed(*parts: Any) -> int:
    """A seed in [0, 2**31 - 2] from ``parts`` joined by ``:`` (e.g. the study seed and a
    configuration key): independent of order of evaluation, worker and machine.

    Args:
        parts: Values whose ``str`` identifies what the seed is for.
    """
    text = ":".join(str(p) for p in parts)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % (2**31 - 1)
