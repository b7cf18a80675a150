"""Architectures, found by name. Each entry builds an ``nn.Module`` with ``features``/``head``."""

from __future__ import annotations

from moo_compress._utils.registry import Registry

ARCHITECTURES = Registry(
    "architecture",
    {
        "small_cnn": "moo_compress.models.small_cnn:SmallCNN",
        "mlp": "moo_compress.models.mlp:MLP",
        "resnet18": "moo_compress.models.torchvision_cifar:resnet18",
        "resnet50": "moo_compress.models.torchvision_cifar:resnet50",
        "vgg11_bn": "moo_compress.models.torchvision_cifar:vgg11_bn",
        "vgg19_bn": "moo_compress.models.torchvision_cifar:vgg19_bn",
        "mobilenet_v2": "moo_compress.models.torchvision_cifar:mobilenet_v2",
        "centernet_lite": "moo_compress.detection.model:centernet_lite",
    },
)

#: Architectures of detection studies; every other one classifies.
DETECTORS = ("centernet_lite",)


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


__all__ = ["ARCHITECTURES", "DETECTORS", "layer_names", "task_architectures"]
