"""A user's own classifier, with the interface the engine reads.

The engine's models expose ``features(x)`` (the penultimate representation, which the
clustering proxy reads) and ``head`` (the classifier). A user's model has no such methods:
:class:`UserModel` wraps it and taps the features with a forward pre-hook on the *input of
its final Linear layer*, found automatically (the last ``nn.Linear`` in module order) or
named by ``features_layer``. The wrapped model's forward is unchanged.

Builders of a user's model, found from a study file or the Python API:

- :func:`torchvision_model`: a torchvision classification architecture by name, with the
  user's ``num_classes`` (never downloads weights);
- :func:`builder_model`: the user's own importable builder, ``"package.module:callable"``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from moo_compress._utils.registry import import_target
from moo_compress.errors import ConfigError

__all__ = [
    "UserModel",
    "builder_model",
    "live_model",
    "register_live_model",
    "torchvision_classifiers",
    "torchvision_model",
]

#: Models passed to the Python API as objects, by the digest of their weights file: they
#: can be rebuilt in this process only.
_LIVE: dict[str, nn.Module] = {}


def register_live_model(key: str, model: nn.Module) -> None:
    """Keep a model passed as a Python object, so that this process can rebuild its
    architecture (a copy of it) from an artifact.

    Args:
        key: The digest of its weights file.
        model: The user's model.
    """
    _LIVE[key] = model


def live_model(key: str) -> nn.Module | None:
    """A copy of the model registered under ``key`` (None: not in this process).

    Args:
        key: The digest of its weights file.
    """
    import copy

    model = _LIVE.get(key)
    return None if model is None else copy.deepcopy(model)


def _last_linear(net: nn.Module) -> str | None:
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


class UserModel(nn.Module):
    """A user's classifier with ``features`` and ``head``.

    Args:
        net: The user's model (its ``forward`` gives the logits).
        features_layer: The layer whose *input* is the feature vector (default None: the
            last ``nn.Linear``).
        mean: Per-channel mean the model's input is normalised with, inside the model, so
            that images, corruptions and attacks stay in [0, 1] pixels (default None: no
            normalisation).
        std: Per-channel standard deviation of that normalisation (default None).

    Raises:
        ConfigError: ``net`` has no Linear layer and no ``features_layer`` was named, or the
            named layer does not exist.
    """

    def __init__(
        self,
        net: nn.Module,
        features_layer: str | None = None,
        *,
        mean: list[float] | tuple[float, ...] | None = None,
        std: list[float] | tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.normalize = mean is not None
        if self.normalize:  # buffers: moved with the model, not trained, not compressed
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        name = features_layer or _last_linear(net)
        if name is None:
            raise ConfigError(
                "model",
                "features_layer",
                f"{type(net).__name__} has no Linear layer, so the clustering proxy cannot "
                "find its penultimate features: name the layer whose input they are",
            )
        try:
            net.get_submodule(name)
        except AttributeError:
            raise ConfigError(
                "model",
                "features_layer",
                f"must name a layer of {type(net).__name__}. Got {name!r} instead.",
            ) from None
        self.features_layer = name

    @property
    def head(self) -> nn.Module:
        """The layer the features enter (the classifier when it is the final Linear)."""
        return self.net.get_submodule(self.features_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The user's model's output.

        Args:
            x: Images, ``(N, C, H, W)``, in [0, 1].
        """
        return self.net(self._normalized(x))

    def _normalized(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.normalize else x

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) from one forward pass: the features are the input of
        :attr:`head`, one row per image.

        Args:
            x: Images, ``(N, C, H, W)``.
        """
        seen: list[torch.Tensor] = []

        def tap(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            seen.append(inputs[0])

        handle = self.head.register_forward_pre_hook(tap)
        try:
            logits = self.net(self._normalized(x))
        finally:
            handle.remove()
        if not seen:
            raise RuntimeError(f"layer {self.features_layer!r} was not called by forward")
        return seen[-1].flatten(1), logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (the input of :attr:`head`), one row per image.

        Args:
            x: Images, ``(N, C, H, W)``.
        """
        return self.features_and_logits(x)[0]


def torchvision_classifiers() -> list[str]:
    """The classification architectures torchvision builds by name."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def torchvision_model(name: str, *, num_classes: int, **kwargs: Any) -> nn.Module:
    """A torchvision classification architecture with random weights (nothing downloaded).

    Args:
        name: Its name in ``torchvision.models`` (``resnet18``, ``mobilenet_v3_small``, ...).
        num_classes: Classes of the user's task.
        kwargs: More keyword arguments of the builder.

    Raises:
        ConfigError: ``name`` is not a torchvision classification architecture.
    """
    import torchvision

    known = torchvision_classifiers()
    if name not in known:
        raise ConfigError(
            "model",
            "torchvision",
            "must be a torchvision classification architecture (e.g. resnet18, "
            f"mobilenet_v3_small, efficientnet_b0). Got {name!r} instead.",
        )
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def builder_model(target: str, **kwargs: Any) -> nn.Module:
    """The user's model from their own builder.

    Args:
        target: ``"package.module:callable"``, importable where the search runs.
        kwargs: Keyword arguments of the builder (e.g. ``num_classes``).

    Raises:
        ConfigError: ``target`` cannot be imported or does not return an ``nn.Module``.
    """
    if ":" not in target:
        raise ConfigError(
            "model", "builder", f"must be 'package.module:callable'. Got {target!r} instead."
        )
    try:
        build = import_target(target)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("model", "builder", f"cannot import {target!r} ({exc})") from None
    model = build(**kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            "model", "builder", f"{target} returned {type(model).__name__}, not an nn.Module"
        )
    return model
