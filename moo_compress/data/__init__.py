"""Datasets, found by name. Entries point at loader functions imported on first use."""

from __future__ import annotations

from moo_compress.registry import Registry

#: name -> "module:function" returning a :class:`moo_compress.data.base.ImageDataset`.
DATASETS = Registry(
    "dataset",
    {
        "digits": "moo_compress.data.digits:load_digits",
    },
)

__all__ = ["DATASETS"]
