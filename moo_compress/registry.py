"""Deprecated location (kept for one release): use :mod:`moo_compress._utils.registry`."""

from moo_compress._utils.registry import Registry

__all__ = ["Registry"]
