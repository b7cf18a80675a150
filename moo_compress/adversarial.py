"""L-infinity FGSM and PGD in pixel space [0, 1] (seed 001 defaults: eps .05, step .02,
5 steps, sign of the gradient, clamp to [0, 1], no random start unless asked).

Models take float NCHW images in [0, 1]; attacks run in eval mode on the model's device and
never touch parameter gradients.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from moo_compress._utils.device import get_device
from moo_compress.data.base import to_tensor

__all__ = ["as_targets", "attack_predictions", "fgsm", "pgd", "robust_instances", "task_loss"]


def task_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The model's training loss: its own ``task_loss`` (a detector's, on dense targets) or
    the cross-entropy on class labels.

    Args:
        model: The model whose loss it is.
        out: The model's output on a batch.
        y: Class labels, or a detector's dense targets.
    """
    own = getattr(model, "task_loss", None)
    return own(out, y) if own is not None else F.cross_entropy(out, y)


def as_targets(y, device: torch.device | str | None = None) -> torch.Tensor:
    """Labels as int64, dense detection targets as float32.

    Args:
        y: Integer labels or float targets (array-like or tensor).
        device: Where the tensor goes (default None: where ``torch.as_tensor`` puts it).
    """
    t = torch.as_tensor(y, device=device)
    return t.long() if not t.is_floating_point() else t.float()


def _input_grad(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = task_loss(model, model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (Goodfellow et al.), clamped to [0, 1].

    Args:
        model: The model whose loss gradient is followed (its mode is left as it is).
        x: Images, float NCHW in [0, 1].
        y: Labels or targets of ``x``.
        eps: Step size (the L-infinity radius).
    """
    return (x + eps * _input_grad(model, x, y).sign()).clamp(0, 1).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step: float,
    steps: int,
    random_start: bool = False,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent on the task loss, projected to the eps-ball and [0, 1].

    Args:
        model: The model whose loss gradient is followed (its mode is left as it is).
        x: Images, float NCHW in [0, 1].
        y: Labels or targets of ``x``.
        eps: L-infinity radius.
        step: Size of each signed-gradient step.
        steps: Number of steps.
        random_start: Start from a uniform point of the eps-ball (default False).
        gen: Generator of the random start (default None: torch's global one).
    """
    x0 = x.detach()
    adv = x0.clone()
    if random_start:
        noise = torch.rand(tuple(x0.shape), generator=gen) * (2 * eps) - eps
        adv = (adv + noise.to(x0.device)).clamp(0, 1)
    for _ in range(steps):
        adv = adv + step * _input_grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(0, 1).detach()
    return adv


def attack_predictions(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    attack: str,
    eps: float,
    step: float = 0.02,
    steps: int = 5,
    random_start: bool = False,
    seed: int = 0,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Clean and adversarial predicted classes for uint8 images (N, H, W, C).

    A model without gradients (the int8 model) is attacked through its ``gradient_model``
    (the float model it was quantized from) and judged on its own predictions.

    Args:
        model: The model (put in eval mode on the engine's device).
        images: uint8 images (N, H, W, C).
        labels: Class labels (N,).
        attack: ``"fgsm"`` or ``"pgd"``.
        eps: L-infinity radius.
        step: PGD step size (default 0.02).
        steps: PGD steps (default 5).
        random_start: PGD from a random point of the eps-ball (default False).
        seed: Seed of the random starts (default 0).
        batch_size: Images per batch (default 256).

    Returns:
        Clean and adversarial predicted classes, each (N,).

    Raises:
        ValueError: An unknown ``attack``.
    """

    device = get_device()
    model = model.to(device).eval()
    grad_model = getattr(model, "gradient_model", model)
    gen = torch.Generator().manual_seed(seed)
    clean, adv_pred = [], []
    for i in range(0, len(images), batch_size):
        x = to_tensor(images[i : i + batch_size]).to(device)
        y = torch.from_numpy(np.asarray(labels[i : i + batch_size], dtype=np.int64)).to(device)
        if attack == "fgsm":
            adv = fgsm(grad_model, x, y, eps)
        elif attack == "pgd":
            adv = pgd(
                grad_model,
                x,
                y,
                eps=eps,
                step=step,
                steps=steps,
                random_start=random_start,
                gen=gen,
            )
        else:
            raise ValueError(f"unknown attack {attack!r}; known: fgsm, pgd")
        with torch.no_grad():
            clean.append(model(x).argmax(1).cpu())
            adv_pred.append(model(adv).argmax(1).cpu())
    return torch.cat(clean).numpy(), torch.cat(adv_pred).numpy()


def robust_instances(clean_pred: np.ndarray, adv_pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of inputs with g(x_adv) = g(x) = y (seed 002).

    Args:
        clean_pred: Predicted classes on the clean inputs.
        adv_pred: Predicted classes on the adversarial inputs.
        labels: True classes.
    """
    return float(((adv_pred == clean_pred) & (clean_pred == labels)).mean())
