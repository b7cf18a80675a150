"""Architectures, found by name. Each entry builds an ``nn.Module`` with ``features``/``head``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moo_compress._utils.registry import Registry
from moo_compress.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from torch import nn


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


def build_model(arch: dict[str, Any], *, builders: tuple[str, ...] = ()) -> nn.Module:
    """The model an architecture spec (as stored in packed artifacts) describes, with random
    weights.

    Three kinds of spec:

    - ``{"name": <a built-in architecture>, "kwargs": {...}}``;
    - ``{"name": ..., "torchvision": <name>, "kwargs": {"num_classes": ...},
      "features_layer": ...}``: a user's torchvision classifier;
    - ``{"name": ..., "builder": "package.module:callable", "kwargs": {...},
      "features_layer": ...}``: a user's own builder, imported only when the caller trusts
      it (it is the study's own builder): a model file alone never makes this process
      import code it names;
    - ``{"name": ..., "python": <weights digest>, ...}``: a model passed to the Python API
      as an object, rebuilt (copied) only in the process that holds it.

    Args:
        arch: The spec.
        builders: The user builders the caller trusts (default: none).

    Raises:
        ArtifactError: The spec names an unknown architecture or an untrusted builder.
    """

    kwargs = dict(arch.get("kwargs") or {})
    if arch.get("torchvision") or arch.get("builder") or arch.get("python"):
        # torch: the architecture table loads without it
        from moo_compress.models.user import (
            UserModel,
            builder_model,
            live_model,
            torchvision_model,
        )

        try:
            if arch.get("python"):
                net = live_model(str(arch["python"]))
                if net is None:
                    raise ArtifactError(
                        f"the model {arch['name']} was passed to create_study as a Python "
                        "object, which only its own process can rebuild; to run it elsewhere "
                        "(workers, another session) pass model={'builder': "
                        "'package.module:callable', 'weights': ...}"
                    )
            elif arch.get("torchvision"):
                net = torchvision_model(str(arch["torchvision"]), **kwargs)
            elif arch["builder"] in builders:
                net = builder_model(str(arch["builder"]), **kwargs)
            else:
                raise ArtifactError(
                    f"the model file was built by the user's builder {arch['builder']!r}; "
                    "load it through its study (whose model.builder names it)"
                )
            return UserModel(
                net, arch.get("features_layer"), mean=arch.get("mean"), std=arch.get("std")
            )
        except ConfigError as exc:
            raise ArtifactError(f"cannot rebuild the model file's architecture: {exc}") from None
    if arch.get("name") not in ARCHITECTURES:
        raise ArtifactError(f"unknown architecture {arch.get('name')!r} in model file")
    return ARCHITECTURES.get(arch["name"])(**kwargs)


def layer_names(arch: str, width: float = 1.0, *, user_model: Any = None) -> list[str]:
    """Names of an architecture's conv/linear layers (what per-layer variables address).

    Args:
        arch: A name in :data:`ARCHITECTURES`.
        width: The architecture's width multiplier (default 1.0).
        user_model: The study's own model
            (:class:`~moo_compress.settings.UserModelConfig`; default None: ``arch`` is
            built in). Its layers are named as in the user's module.
    """
    from moo_compress.weights.constraints import prunable_layers  # torch: not for the table

    if user_model is not None:
        spec = user_model.arch_spec(user_model.num_classes or 2)
        model = build_model(spec, builders=(user_model.builder,) if user_model.builder else ())
        return [name for name, _ in prunable_layers(model)]
    return [name for name, _ in prunable_layers(ARCHITECTURES.get(arch)(width=width))]


__all__ = [
    "ARCHITECTURES",
    "DETECTORS",
    "MODEL_INFO",
    "ModelInfo",
    "build_model",
    "layer_names",
    "task_architectures",
]
