"""The bottom floor: helpers every layer may use and that import nothing of the package.

- :mod:`~moo_compress._utils.registry`: name -> lazily imported object (every plugin table);
- :mod:`~moo_compress._utils.hashing`: stable digests of JSON payloads and derived seeds;
- :mod:`~moo_compress._utils.io`: atomic file writes that leave nothing half-written;
- :mod:`~moo_compress._utils.device`: the one place that chooses where tensors live.
"""

from __future__ import annotations

from moo_compress._utils.device import get_device
from moo_compress._utils.hashing import derived_seed, digest
from moo_compress._utils.io import atomic_save_npy, atomic_write
from moo_compress._utils.registry import Registry

__all__ = ["Registry", "atomic_save_npy", "atomic_write", "derived_seed", "digest", "get_device"]
