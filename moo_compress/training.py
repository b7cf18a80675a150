"""Training, fine-tuning and batched inference on in-memory datasets."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from moo_compress._utils.device import get_device
from moo_compress._utils.registry import import_target
from moo_compress.adversarial import as_targets, pgd, task_loss
from moo_compress.data.base import to_tensor
from moo_compress.settings import TrainConfig

__all__ = ["TrainingRun", "accuracy", "make_optimizer", "predict", "predict_outputs", "train"]


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    epochs: int,
    seed: int,
    adversarial: dict | None = None,
) -> nn.Module:
    """Train ``model`` in place on uint8 images ``x``: SGD (or AdamW, or the user's optimizer)
    with a cosine schedule, on the task's loss (or the user's step).

    Compression constraints live in weight parametrizations, so whatever is trained here
    (raw weights, or cluster centroids) stays masked, tied and quantized. The run's
    randomness (the shuffling order, PGD's starts, dropout) comes from ``seed`` alone
    (:class:`TrainingRun`).

    Args:
        model: The model, on any device; moved to the engine's device.
        x: uint8 images (N, H, W, C).
        y: int labels (N,), or a detector's dense float targets (N, ...).
        cfg: Optimizer settings.
        epochs: Number of passes over the data (0 returns the model unchanged).
        seed: Seed of the run's randomness.
        adversarial: PGD settings (``eps``, ``step``, ``steps``, ``random_start``) to train
            on the clean plus the adversarial loss (seed 001's robust training); adversarial
            examples are made against the current model in eval mode (default None: clean
            training only).

    Returns:
        The same ``model`` (in eval mode when it was trained; its mode is unchanged when
        ``epochs`` is 0 or nothing is trainable).

    Raises:
        FloatingPointError: The loss became NaN or infinite.
    """
    return TrainingRun(model, x, y, cfg, epochs=epochs, seed=seed, adversarial=adversarial).run()


class TrainingRun:
    """One training run (as :func:`train` runs it) that can pause after any epoch and
    continue exactly where it paused, in this process or another.

    The cosine schedule spans the run's full ``epochs`` whenever it pauses, so a run paused
    after epoch k and continued ends with the same model, bit for bit on a deterministic
    device, as the run that never paused. What continuing needs besides the model's tensors
    is :meth:`state_dict`: the epochs done, the optimizer's and the schedule's states, the
    shuffling generator's state and the global random state (dropout), which the run keeps
    apart from the caller's: it starts from ``seed`` (``torch.manual_seed``) and is put back
    for the caller after every :meth:`run`.

    Args:
        model: The model, on any device; moved to the engine's device.
        x: uint8 images (N, H, W, C).
        y: int labels (N,), or a detector's dense float targets (N, ...).
        cfg: Optimizer settings.
        epochs: The run's length in passes over the data.
        seed: Seed of the run's randomness.
        adversarial: PGD settings, as :func:`train` takes them (default None).
    """

    def __init__(
        self,
        model: nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        cfg: TrainConfig,
        *,
        epochs: int,
        seed: int,
        adversarial: dict | None = None,
    ) -> None:
        self.model, self.x, self.y, self.cfg = model, x, y, cfg
        self.epochs = int(epochs)
        self.seed = int(seed)
        self.adversarial = adversarial
        self.done = 0
        self.device = get_device()
        model.to(self.device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.active = self.epochs > 0 and bool(self.params)
        self._rng: torch.Tensor | None = None
        self._cuda_rng: torch.Tensor | None = None
        if not self.active:
            return
        self.opt = make_optimizer(self.params, cfg)
        self.steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=max(1, self.epochs * self.steps_per_epoch)
        )
        self.gen = torch.Generator().manual_seed(self.seed)

    @property
    def finished(self) -> bool:
        """Every epoch has run (or there is nothing to train)."""
        return not self.active or self.done >= self.epochs

    def run(self, until: int | None = None) -> nn.Module:
        """Train up to epoch ``until`` (from the epochs already done).

        Args:
            until: Stop after this many epochs of the run in all (default None: the run's
                ``epochs``); at most ``epochs``.

        Returns:
            The model (in eval mode when it was trained).

        Raises:
            FloatingPointError: The loss became NaN or infinite.
        """
        if not self.active:
            return self.model
        stop = self.epochs if until is None else min(int(until), self.epochs)
        if stop <= self.done:
            return self.model
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            if self._rng is None:
                torch.manual_seed(self.seed)
            else:
                torch.set_rng_state(self._rng)
                if cuda and self._cuda_rng is not None:
                    torch.cuda.set_rng_state(self._cuda_rng, cuda[0])
            self._epochs(stop)
            self._rng = torch.get_rng_state()
            if cuda:
                self._cuda_rng = torch.cuda.get_rng_state(cuda[0])
        self.model.eval()
        return self.model

    def _epochs(self, stop: int) -> None:
        model, x, cfg, adversarial = self.model, self.x, self.cfg, self.adversarial
        device = self.device
        # images stay uint8 in host memory and are made float one batch at a time: a float
        # copy of the whole set would take 4x its size (6 GB for 10,000 images of 224x224)
        targets = as_targets(self.y, device)
        step = import_target(cfg.step) if cfg.step else None
        gen = self.gen
        model.train()
        while self.done < stop:
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                xb = to_tensor(x[idx.numpy()]).to(device)
                yb = targets[idx.to(device)]
                if adversarial:
                    model.eval()
                    adv = pgd(model, xb, yb, gen=gen, **adversarial)
                    model.train()
                self.opt.zero_grad(set_to_none=True)
                if step is None:
                    loss = task_loss(model, model(xb), yb)
                    if adversarial:
                        loss = loss + task_loss(model, model(adv), yb)
                else:
                    loss = _user_loss(step, model, xb, yb, cfg.step)
                    if adversarial:
                        loss = loss + _user_loss(step, model, adv, yb, cfg.step)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss became {loss.item()}")
                loss.backward()
                self.opt.step()
                self.sched.step()
            self.done += 1

    def state_dict(self) -> dict:
        """What continuing the run needs besides the model's tensors: tensors, numbers and
        strings only (``torch.load(..., weights_only=True)`` reads it back)."""
        if not self.active:
            return {"done": self.done, "epochs": self.epochs, "seed": self.seed}
        out = {
            "done": self.done,
            "epochs": self.epochs,
            "seed": self.seed,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(),
        }
        if self._rng is not None:
            out["rng"] = self._rng
        if self._cuda_rng is not None:
            out["cuda_rng"] = self._cuda_rng
        return out

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s output (of a run of the same length and seed
        on a model with the same tensors).

        Args:
            state: The saved state.

        Raises:
            ValueError: The state is of another run (length, seed or optimizer).
        """
        if int(state["epochs"]) != self.epochs or int(state["seed"]) != self.seed:
            raise ValueError(
                f"the saved run is {state['epochs']} epochs with seed {state['seed']}, "
                f"not {self.epochs} with seed {self.seed}"
            )
        self.done = int(state["done"])
        if not self.active:
            return
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        self._rng = state.get("rng")
        self._cuda_rng = state.get("cuda_rng")


def make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``cfg``: the user's factory, or SGD (momentum) or AdamW.

    Args:
        params: The parameters to train.
        cfg: The training settings.

    Raises:
        TypeError: The user's factory returned something else than an optimizer.
    """
    if cfg.optimizer_factory:
        opt = import_target(cfg.optimizer_factory)(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer_factory {cfg.optimizer_factory} returned {type(opt).__name__}, "
                "not a torch.optim.Optimizer"
            )
        return opt
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _user_loss(step, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, name: str):
    loss = step(model, (xb, yb))
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0 or not loss.requires_grad:
        raise TypeError(
            f"step {name} must return the batch's loss, a scalar tensor with a gradient; "
            f"got {type(loss).__name__}"
            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else "")
        )
    return loss


@torch.no_grad()
def predict(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    features: bool = False,
) -> torch.Tensor:
    """Logits (or penultimate features) for uint8 images (N, H, W, C) or a float NCHW tensor.

    Args:
        model: The model (put in eval mode on the engine's device).
        x: uint8 images (N, H, W, C), or a float NCHW tensor in [0, 1].
        batch_size: Images per forward pass (default 256).
        features: Return ``model.features(x)`` instead of the logits (default False).

    Returns:
        A float CPU tensor with one row per image (empty for no images).
    """
    device = get_device()
    model.eval().to(device)
    outs = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size]
        batch = to_tensor(chunk) if isinstance(chunk, np.ndarray) else chunk
        batch = batch.to(device)
        outs.append((model.features(batch) if features else model(batch)).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


@torch.no_grad()
def predict_outputs(
    model: nn.Module, x: np.ndarray, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate features, logits) in one pass; models may provide
    ``features_and_logits`` (the int8 model does), else ``head(features(x))`` is used.

    Args:
        model: The model (put in eval mode on the engine's device).
        x: uint8 images (N, H, W, C).
        batch_size: Images per forward pass (default 256).

    Returns:
        Float CPU tensors, one row per image.
    """
    device = get_device()
    model.eval().to(device)
    both = getattr(model, "features_and_logits", None)
    feats, logits = [], []
    for i in range(0, len(x), batch_size):
        batch = to_tensor(x[i : i + batch_size]).to(device)
        if both is not None:
            f, out = both(batch)
        else:
            f = model.features(batch)
            out = model.head(f)
        feats.append(f.float().cpu())
        logits.append(out.float().cpu())
    return torch.cat(feats), torch.cat(logits)


def accuracy(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray) -> float:
    """Top-1 accuracy in [0, 1].

    Args:
        model: A classifier.
        x: Images, as :func:`predict` takes them.
        y: Class labels.
    """
    pred = predict(model, x).argmax(1).numpy()
    return float((pred == np.asarray(y)).mean())
