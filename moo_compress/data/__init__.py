"""Datasets, found by name. Entries point at loader functions imported on first use."""

from __future__ import annotations

from moo_compress._utils.registry import Registry

#: name -> "module:function" returning a :class:`moo_compress.data.base.ImageDataset`.
DATASETS = Registry(
    "dataset",
    {
        "digits": "moo_compress.data.digits:load_digits",
        "cifar10": "moo_compress.data.cifar:load_cifar10",
        "cifar100": "moo_compress.data.cifar:load_cifar100",
    },
)

__all__ = ["DATASETS"]
