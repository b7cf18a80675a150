"""Deprecated: moved to :mod:`moo_compress.weights.constraints` (this path goes in the next
release)."""

from moo_compress._utils.moved import moved_to

__getattr__ = moved_to(__name__, "moo_compress.weights.constraints")
