"""Deprecated location (kept for one release): use :mod:`moo_compress._utils.device`."""

from moo_compress._utils.device import get_device

__all__ = ["get_device"]
