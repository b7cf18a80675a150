"""Datasets, found by name: the one table of datasets, for both tasks.

:data:`DATASET_INFO` says, for each dataset, its task, its loader and the options its
``dataset`` section takes (kind, default, range) and which check a study file's values must
pass before anything is created. The study-file loader reads every dataset's section from
this table alone; adding one = a module with its loader (and check) and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moo_compress._utils.registry import Registry

REQUIRED = object()
"""Default of an option the study file must give."""


@dataclass(frozen=True)
class DatasetOption:
    """One option of a dataset's section.

    Args:
        name: The key in the study file (and the loader's keyword argument).
        kind: ``"number"``, ``"integer"``, ``"string"`` or ``"path"`` (relative to the
            study file, stored resolved).
        default: Its default (:data:`REQUIRED`: none; None: optional, left out when absent).
        low: Smallest allowed number (default None: no bound).
        high: Largest allowed number (default None: no bound).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset.

    Args:
        name: The ``dataset.name`` of study files.
        task: ``"classification"`` or ``"detection"``.
        target: ``"module:function"`` of its loader (classification: called with ``seed``
            and the options; detection: ``load_detection_dataset`` reads the options).
        options: The options its section takes, in order.
        check: ``"module:function"`` called with ``(name, options)`` after the options are
            read; returns None, or ``(key, problem)`` for a one-line error on that key
            (default "": no check).
        corrupted_folder: ``"module:function"`` reading the dataset's published corrupted
            test images (``corrupted_root``: a CIFAR-10-C folder, or the ImageNet-C layout),
            called with ``(folder, names, *, y_test, options, cache_dir, num_workers, log)``;
            its module's ``check_corrupted_folder(folder)`` returns None or the problem
            (default "": no such folder can be given).
        streams: Whether the loader decodes into the study's cache and returns memory-mapped
            arrays (it takes ``cache_dir``, ``num_workers`` and ``log``; the section then
            takes ``num_workers``; default False).
    """

    name: str
    task: str
    target: str
    options: tuple[DatasetOption, ...] = ()
    check: str = ""
    corrupted_folder: str = ""
    streams: bool = False


_CIFAR = (
    DatasetOption("root", "path"),
    DatasetOption("train_subset", "integer", None, 1, 10_000_000),
    DatasetOption("test_subset", "integer", None, 1, 10_000_000),
)
#: CIFAR-10-C's layout: ``<corruption>.npy`` (5 severity blocks) and ``labels.npy``.
CIFAR_C_LAYOUT = "moo_compress.data.cifar:read_corrupted_folder"
_DETECTION_SIZE = DatasetOption("image_size", "integer", 64, 16, 1024)
_INFO = [
    DatasetInfo(
        "digits",
        "classification",
        "moo_compress.data.digits:load_digits",
        (DatasetOption("test_fraction", "number", 0.3, 0.05, 0.9),),
        corrupted_folder=CIFAR_C_LAYOUT,
    ),
    DatasetInfo(
        "cifar10",
        "classification",
        "moo_compress.data.cifar:load_cifar10",
        _CIFAR,
        check="moo_compress.data.cifar:check_options",
        corrupted_folder=CIFAR_C_LAYOUT,
    ),
    DatasetInfo(
        "cifar100",
        "classification",
        "moo_compress.data.cifar:load_cifar100",
        _CIFAR,
        check="moo_compress.data.cifar:check_options",
        corrupted_folder=CIFAR_C_LAYOUT,
    ),
    DatasetInfo(
        "imagefolder",
        "classification",
        "moo_compress.data.imagefolder:load_imagefolder",
        (
            DatasetOption("root", "path"),
            DatasetOption("image_size", "integer", REQUIRED, 8, 4096),
            DatasetOption("train", "string", "train"),
            DatasetOption("test", "string", "test"),
            DatasetOption("val", "string", None),
        ),
        check="moo_compress.data.imagefolder:check_options",
        corrupted_folder="moo_compress.data.imagefolder:load_corrupted_folder",
        streams=True,
    ),
    DatasetInfo(
        "factory",
        "classification",
        "moo_compress.data.torch_datasets:load_factory",
        (DatasetOption("factory", "string"),),
        check="moo_compress.data.torch_datasets:check_options",
        streams=True,
    ),
    DatasetInfo(
        "arrays",
        "classification",
        "moo_compress.data.arrays:load_arrays",
        (DatasetOption("root", "path"),),
        check="moo_compress.data.arrays:check_options",
    ),
    DatasetInfo(
        "shapes",
        "detection",
        "moo_compress.detection.data:load_detection_dataset",
        (
            _DETECTION_SIZE,
            DatasetOption("n_train", "integer", 600, 8, 1_000_000),
            DatasetOption("n_test", "integer", 200, 4, 1_000_000),
        ),
        check="moo_compress.detection.data:check_options",
    ),
    DatasetInfo(
        "coco",
        "detection",
        "moo_compress.detection.data:load_detection_dataset",
        (
            _DETECTION_SIZE,
            DatasetOption("root", "path"),
            DatasetOption("train", "string", "train"),
            DatasetOption("test", "string", "val"),
        ),
        check="moo_compress.detection.data:check_options",
    ),
]
DATASET_INFO: dict[str, DatasetInfo] = {d.name: d for d in _INFO}

#: name -> "module:function" of every classification dataset's loader, returning a
#: :class:`moo_compress.data.base.ImageDataset` (detection datasets are loaded by
#: ``moo_compress.detection.data.load_detection_dataset``).
DATASETS = Registry("dataset", {d.name: d.target for d in _INFO if d.task == "classification"})


def task_datasets(task: str) -> list[str]:
    """Names of the datasets of a task, in table order (the first is the default).

    Args:
        task: ``"classification"`` or ``"detection"``.
    """
    return [d.name for d in _INFO if d.task == task]


__all__ = [
    "CIFAR_C_LAYOUT",
    "DATASETS",
    "DATASET_INFO",
    "REQUIRED",
    "DatasetInfo",
    "DatasetOption",
    "task_datasets",
]
