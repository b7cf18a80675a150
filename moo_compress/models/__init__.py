"""Architectures, found by name. Each entry builds an ``nn.Module`` with ``features``/``head``."""

from __future__ import annotations

from dataclasses import dataclass

from moo_compress._utils.registry import Registry


@dataclass(frozen=True)
class ModelInfo:
    """One architecture: adding one is a module with its builder plus one entry here.

    Args:
        name: The name a study file gives under ``model.arch``.
        target: ``"module:callable"`` of a builder taking ``num_classes`` (detectors: the
            number of object classes) and ``width``, returning an ``nn.Module`` with
            ``features`` and ``head``.
        task: ``"classification"`` or ``"detection"``: the studies that may use it.
    """

    name: str
    target: str
    task: str = "classification"


#: Every architecture, in the order study-file errors list them.
MODEL_INFO: tuple[ModelInfo, ...] = (
    ModelInfo("small_cnn", "moo_compress.models.small_cnn:SmallCNN"),
    ModelInfo("mlp", "moo_compress.models.mlp:MLP"),
    ModelInfo("resnet18", "moo_compress.models.torchvision_cifar:resnet18"),
    ModelInfo("resnet50", "moo_compress.models.torchvision_cifar:resnet50"),
    ModelInfo("vgg11_bn", "moo_compress.models.torchvision_cifar:vgg11_bn"),
    ModelInfo("vgg19_bn", "moo_compress.models.torchvision_cifar:vgg19_bn"),
    ModelInfo("mobilenet_v2", "moo_compress.models.torchvision_cifar:mobilenet_v2"),
    ModelInfo("centernet_lite", "moo_compress.detection.model:centernet_lite", "detection"),
)

ARCHITECTURES = Registry("architecture", {m.name: m.target for m in MODEL_INFO})

#: Architectures of detection studies; every other one classifies.
DETECTORS = tuple(m.name for m in MODEL_INFO if m.task == "detection")


def task_architectures(task: str) -> list[str]:
    """The architectures a study of ``task`` may use, in registry order.

    Args:
        task: ``"detection"`` for the detectors; any other task gets the classifiers.
    """
    names = ARCHITECTURES.names()
    return [n for n in names if (n in DETECTORS) == (task == "detection")]


def layer_names(arch: str, width: float = 1.0) -> list[str]:
    """Names of an architecture's conv/linear layers (what per-layer variables address).

    Args:
        arch: A name in :data:`ARCHITECTURES`.
        width: The architecture's width multiplier (default 1.0).
    """
    from moo_compress.compression.constraints import prunable_layers

    return [name for name, _ in prunable_layers(ARCHITECTURES.get(arch)(width=width))]


__all__ = [
    "ARCHITECTURES",
    "DETECTORS",
    "MODEL_INFO",
    "ModelInfo",
    "layer_names",
    "task_architectures",
]
