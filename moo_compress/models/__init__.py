"""Architectures, found by name. Each entry builds an ``nn.Module`` with ``features``/``head``."""

from __future__ import annotations

from moo_compress.registry import Registry

ARCHITECTURES = Registry(
    "architecture",
    {
        "small_cnn": "moo_compress.models.small_cnn:SmallCNN",
    },
)

__all__ = ["ARCHITECTURES"]
