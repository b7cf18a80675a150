"""Data-free, robustness-preserving pruning of fully connected hidden units (seed 002), and
the one-shot saliency pruning it is compared with (Srinivas & Babu).

No training data is used. The model must expose ``sequential()`` (its layers in forward
order: conv, batch norm, ReLU, max-pool, flatten, linear), as ``small_cnn`` and ``mlp`` do;
the hidden units are the outputs of every linear layer followed by another linear layer.

- Primitive operation: pruning nominee ``i`` onto delegate ``j`` (same layer) adds ``i``'s
  outgoing weights to ``j``'s and zeroes every weight into and out of ``i``.
- Pair saliency: ``||W_out[:, i]||_2 * (||W_in[i] - W_in[j]||_2 + |b_i - b_j| / |b_i + b_j|)``
  (the outgoing-weight factor is the L2 norm, the reading REFERENCE.md gives).
- Interval arithmetic from the valid input box [0, 1] gives every unit's value range
  ``a = [lo, hi]``. A pair's impact on the next layer is ``W_out[:, i] * (a_j - a_i)``; it is
  propagated to the output through the following affine maps (ReLU clamps the interval at
  0, no activation on the output) and accumulated over accepted prunings.
- Energy = 0.75 sigmoid(NORM) + 0.25 sigmoid(ENT), NORM the summed output interval widths,
  ENT the entropy of the phi-similarity densities (phi = 0.9).
- Simulated annealing (Algorithm 1): per epoch and hidden layer, the ``k`` lowest-saliency
  pairs are visited in order; the first is accepted, a later one is accepted when its energy
  is lower than the last accepted one's, else with probability ``exp(-(E' - E) / T)``, where
  ``T`` is the share of the pruning task still to do. Each epoch removes at most ``k`` =
  5 % of a layer's units; epochs repeat until every layer reaches its ratio, and the unit
  intervals are recomputed after each layer's step.

``ratio`` is the share of each hidden layer's units to remove (conv layers and the output
layer are not touched). The result is a keep-mask on the pruned units' incoming rows and on
the next layer's columns; under ``filter`` granularity the units are removed physically.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from moo_compress.weights.constraints import prunable_layers
from moo_compress.weights.masks import PruneContext

__all__ = [
    "PHI",
    "datafree_masks",
    "energy",
    "entropy",
    "saliency_masks",
    "saliency_matrix",
    "unit_intervals",
]

ALPHA, BETA, PHI = 0.75, 0.25, 0.9
EPOCH_SHARE = 0.05


# -- interval arithmetic -------------------------------------------------------------------
def _affine(module: nn.Module, lo: torch.Tensor, hi: torch.Tensor, bias: bool = True):
    w = module.weight.detach()
    pos, neg = w.clamp(min=0), w.clamp(max=0)
    b = module.bias.detach() if (bias and module.bias is not None) else None
    if isinstance(module, nn.Linear):
        new_lo = lo @ pos.T + hi @ neg.T
        new_hi = hi @ pos.T + lo @ neg.T
        if b is not None:
            new_lo, new_hi = new_lo + b, new_hi + b
        return new_lo, new_hi
    kw = {
        "stride": module.stride,
        "padding": module.padding,
        "dilation": module.dilation,
        "groups": module.groups,
    }
    conv = torch.nn.functional.conv2d
    return conv(lo, pos, b, **kw) + conv(hi, neg, None, **kw), conv(hi, pos, b, **kw) + conv(
        lo, neg, None, **kw
    )


def _step(module: nn.Module, lo: torch.Tensor, hi: torch.Tensor, *, bias: bool = True):
    """One module applied to an interval [lo, hi] (``bias=False`` for differences)."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return _affine(module, lo, hi, bias)
    if isinstance(module, nn.BatchNorm2d):
        scale = module.weight.detach() / torch.sqrt(module.running_var + module.eps)
        shift = (module.bias.detach() - module.running_mean * scale).reshape(1, -1, 1, 1)
        scale = scale.reshape(1, -1, 1, 1)
        if not bias:
            shift = 0.0
        a, b = lo * scale, hi * scale
        return torch.minimum(a, b) + shift, torch.maximum(a, b) + shift
    if isinstance(module, (nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Identity, nn.Dropout)):
        return module(lo), module(hi)  # monotone (dropout is the identity in eval mode)
    raise ValueError(
        f"data-free pruning cannot propagate intervals through {type(module).__name__}"
    )


def _sequence(model: nn.Module) -> list[nn.Module]:
    seq = getattr(model, "sequential", None)
    if seq is None:
        raise ValueError(
            f"data-free pruning needs a model made of a plain layer sequence (small_cnn, mlp); "
            f"{type(model).__name__} has no sequential() view"
        )
    return list(seq())


def _hidden_pairs(seq: list[nn.Module]) -> list[tuple[int, int]]:
    """(index of a hidden linear layer, index of the next linear layer) in ``seq``."""
    linear = [i for i, m in enumerate(seq) if isinstance(m, nn.Linear)]
    return list(zip(linear[:-1], linear[1:], strict=False))


@torch.no_grad()
def unit_intervals(seq: list[nn.Module], input_shape: tuple[int, ...]) -> list[tuple]:
    """Interval of every module's output for inputs in [0, 1].

    Args:
        seq: The model's layers in forward order (its ``sequential()``).
        input_shape: (C, H, W) of one input.

    Returns:
        ``(lo, hi)`` of each module's output, batch dimension 1, in the order of ``seq``.
    """
    lo = torch.zeros(1, *input_shape)
    hi = torch.ones(1, *input_shape)
    out = []
    for module in seq:
        lo, hi = _step(module, lo, hi)
        out.append((lo, hi))
    return out


@torch.no_grad()
def _to_output(seq: list[nn.Module], start: int, lo: torch.Tensor, hi: torch.Tensor):
    """Propagate an impact interval given at the output of ``seq[start]`` to the output."""
    for module in seq[start + 1 :]:
        if isinstance(module, nn.ReLU):
            lo, hi = lo.clamp(min=0), hi.clamp(min=0)
        else:
            lo, hi = _step(module, lo, hi, bias=False)
    return lo.flatten(), hi.flatten()


# -- sampling criterion --------------------------------------------------------------------
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def entropy(lo: torch.Tensor, hi: torch.Tensor, phi: float = PHI) -> float:
    """ENT: entropy of the phi-similarity densities of the output intervals (Eqs. 5-7).

    Args:
        lo: Lower ends of the output intervals, one per output (1-D).
        hi: Upper ends, the same shape.
        phi: Similarity threshold of two intervals (default :data:`PHI`, 0.9).
    """
    span = float(hi.max() - lo.min())
    n = lo.numel()
    if span <= 0:
        sim = torch.ones(n, n)
    else:
        sim = 1 - ((lo[:, None] - lo[None, :]).abs() + (hi[:, None] - hi[None, :]).abs()) / (
            2 * span
        )
    similar = (sim >= phi).float()
    similar.fill_diagonal_(0)
    rho = similar.sum(1) / n
    rho = rho[rho > 0]
    return float(-(rho * rho.log()).sum())


def energy(lo: torch.Tensor, hi: torch.Tensor) -> float:
    """Eq. 8 with alpha 0.75, beta 0.25: ``ALPHA sigmoid(NORM) + BETA sigmoid(ENT)``.

    Args:
        lo: Lower ends of the output intervals, one per output (1-D).
        hi: Upper ends, the same shape.
    """
    norm = float((hi - lo).abs().sum())
    return ALPHA * _sigmoid(norm) + BETA * _sigmoid(entropy(lo, hi))


def saliency_matrix(
    w_in: torch.Tensor, b_in: torch.Tensor | None, w_out: torch.Tensor
) -> torch.Tensor:
    """S[i, j]: cost of pruning nominee ``i`` onto delegate ``j`` (diagonal = inf).

    Args:
        w_in: Incoming weights of the hidden layer, one row per unit.
        b_in: Its biases (None: the layer has none, and the bias term is left out).
        w_out: The next layer's weights, one column per unit.
    """
    dist = torch.cdist(w_in[None], w_in[None])[0]
    if b_in is not None:
        dist = dist + (b_in[:, None] - b_in[None, :]).abs() / (
            (b_in[:, None] + b_in[None, :]).abs() + 1e-12
        )
    s = w_out.norm(dim=0)[:, None] * dist
    s.fill_diagonal_(float("inf"))
    return s


def _ranked_pairs(s: torch.Tensor, alive: torch.Tensor):
    """(nominee, delegate) pairs of living units by ascending saliency (ties by position)."""
    s = s.clone()
    dead = ~alive
    s[dead, :] = float("inf")
    s[:, dead] = float("inf")
    flat = s.flatten().double().numpy()
    order = np.argsort(flat, kind="stable")
    order = order[np.isfinite(flat[order])]
    n = s.shape[0]
    for k in order:
        yield int(k) // n, int(k) % n


@torch.no_grad()
def _merge(layer: nn.Linear, nxt: nn.Linear, i: int, j: int) -> None:
    nxt.weight[:, j] += nxt.weight[:, i]
    nxt.weight[:, i] = 0.0
    layer.weight[i, :] = 0.0
    if layer.bias is not None:
        layer.bias[i] = 0.0


def _masks(model: nn.Module, seq, pairs, alive) -> dict[str, torch.Tensor]:
    names = {id(m): n for n, m in prunable_layers(model)}
    masks: dict[str, torch.Tensor] = {}
    for (li, ni), keep in zip(pairs, alive, strict=True):
        layer, nxt = seq[li], seq[ni]
        k = keep.float()
        row = k[:, None].expand_as(layer.weight).contiguous()
        col = k[None, :].expand_as(nxt.weight).contiguous()
        for module, mask in ((layer, row), (nxt, col)):
            name = names[id(module)]
            masks[name] = masks[name] * mask if name in masks else mask
    return masks


def _targets(model, seq, pairs, ctx: PruneContext) -> list[int]:
    names = {id(m): n for n, m in prunable_layers(model)}
    out = []
    for li, _ in pairs:
        n_units = seq[li].weight.shape[0]
        ratio = float(ctx.ratios.get(names[id(seq[li])], 0.0))
        out.append(min(int(round(ratio * n_units)), n_units - 1))
    return out


@torch.no_grad()
def saliency_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """One-shot saliency pruning: per hidden layer, the lowest-saliency pairs, in one go.

    The merges change the model's weights in place.

    Args:
        model: The model to score; it needs a ``sequential()`` view and has its merged units' weights
            changed in place.
        ctx: Ratios per layer, granularity.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    seq = _sequence(model)
    pairs = _hidden_pairs(seq)
    targets = _targets(model, seq, pairs, ctx)
    alive_all = []
    for (li, ni), target in zip(pairs, targets, strict=True):
        layer, nxt = seq[li], seq[ni]
        b = layer.bias.detach() if layer.bias is not None else None
        s = saliency_matrix(layer.weight.detach(), b, nxt.weight.detach())
        alive = torch.ones(layer.weight.shape[0], dtype=torch.bool)
        delegate = torch.zeros_like(alive)
        pruned = 0
        for i, j in _ranked_pairs(s, alive):
            if pruned >= target:
                break
            # a delegate may absorb several nominees but is not pruned itself afterwards
            if not (alive[i] and alive[j]) or delegate[i]:
                continue
            _merge(layer, nxt, i, j)
            alive[i] = False
            delegate[j] = True
            pruned += 1
        alive_all.append(alive)
    return _masks(model, seq, pairs, alive_all)


@torch.no_grad()
def datafree_masks(model: nn.Module, ctx: PruneContext) -> dict[str, torch.Tensor]:
    """Seed 002's supervised stochastic pruning (Algorithm 1) by simulated annealing.

    Args:
        model: The model to score; it needs a ``sequential()`` view, is put in eval mode and has its
            merged units' weights changed in place.
        ctx: Ratios per layer, granularity, seed of the annealing and input shape.

    Returns:
        Layer name -> keep-mask of the weight's shape.
    """
    model.eval()
    seq = _sequence(model)
    pairs = _hidden_pairs(seq)
    targets = _targets(model, seq, pairs, ctx)
    total = sum(targets)
    alive_all = [torch.ones(seq[li].weight.shape[0], dtype=torch.bool) for li, _ in pairs]
    done = [0] * len(pairs)
    rng = np.random.default_rng(ctx.seed)
    n_out = seq[-1].weight.shape[0]
    cum_lo, cum_hi = torch.zeros(n_out), torch.zeros(n_out)
    temperature = 1.0
    while total and sum(done) < total:
        for p, (li, ni) in enumerate(pairs):
            if done[p] >= targets[p]:
                continue
            layer, nxt = seq[li], seq[ni]
            intervals = unit_intervals(seq, ctx.input_shape)
            a_lo, a_hi = intervals[li + 1] if isinstance(seq[li + 1], nn.ReLU) else intervals[li]
            a_lo, a_hi = a_lo.flatten(), a_hi.flatten()
            b = layer.bias.detach() if layer.bias is not None else None
            s = saliency_matrix(layer.weight.detach(), b, nxt.weight.detach())
            alive = alive_all[p]
            k = max(1, math.ceil(EPOCH_SHARE * alive.numel()))
            used = torch.zeros_like(alive)
            visited = 0
            e_prev = 0.0
            acc_lo, acc_hi = torch.zeros(n_out), torch.zeros(n_out)
            for i, j in _ranked_pairs(s, alive):
                if visited >= k or done[p] >= targets[p]:
                    break
                if used[i] or used[j]:
                    continue
                visited += 1
                # impact on the next layer: W_out[:, i] * (a_j - a_i), as an interval
                d_lo, d_hi = a_lo[j] - a_hi[i], a_hi[j] - a_lo[i]
                w = nxt.weight[:, i]
                z_lo = torch.minimum(w * d_lo, w * d_hi)
                z_hi = torch.maximum(w * d_lo, w * d_hi)
                o_lo, o_hi = _to_output(seq, ni, z_lo[None], z_hi[None])
                e_new = energy(cum_lo + o_lo, cum_hi + o_hi)
                if e_prev > 0 and e_new > e_prev:
                    accept_p = math.exp(-(e_new - e_prev) / max(temperature, 1e-12))
                    if rng.random() >= accept_p:
                        continue
                _merge(layer, nxt, i, j)
                alive[i] = False
                used[i] = used[j] = True
                done[p] += 1
                acc_lo, acc_hi = acc_lo + o_lo, acc_hi + o_hi
                e_prev = e_new
            cum_lo, cum_hi = cum_lo + acc_lo, cum_hi + acc_hi
            temperature = 1.0 - sum(done) / total
    return _masks(model, seq, pairs, alive_all)
