"""A compressed model paused in its last fine-tuning phase, saved to continue exactly.

A multi-fidelity rung that fine-tunes for fewer epochs (``driver.rungs[*].finetune_epochs``)
pauses the pipeline's last fine-tuning run; the next rung continues that run from here, in
this process or another (the file lives with the trial artifacts). The file holds:

- the model's tensors (``state_dict``: raw weights, masks, centroid ties, activation ranges,
  batch-norm statistics) and what rebuilds the modules holding them around a copy of the
  baseline: each layer's constraint and bit-width, its activation quantizer, the layer
  shapes and groups left by structured pruning, the frozen parameters, the parameter order
  the optimizer saw;
- the run's state (:meth:`moo_compress.training.TrainingRun.state_dict`): epochs done,
  optimizer, schedule, shuffling generator and global random state;
- the stage it pauses (its number in the pipeline) and the build's notes.

It is written with ``torch.save`` and read with ``torch.load(weights_only=True)``: tensors,
numbers and strings only, never code.
"""

from __future__ import annotations

import copy
import io
from typing import Any

import torch
from torch import nn

from moo_compress.errors import ArtifactError
from moo_compress.training import TrainingRun
from moo_compress.weights.activations import ActivationQuantizer, _quantize_input
from moo_compress.weights.codec import _resize
from moo_compress.weights.constraints import CompressedWeight, constraint, prunable_layers

__all__ = ["FORMAT", "Paused", "baseline_digest", "load_paused", "save_paused"]

#: Version of the file's layout; a file of another version is refused (built again).
FORMAT = 1


class Paused:
    """A model in its last fine-tuning run, paused between two epochs.

    Args:
        model: The float model with its constraints attached (in the run).
        run: The paused run.
        stage: The pipeline number of the stage whose fine-tuning the run is.
        notes: The build's notes (``compression_skipped``), kept with the model.
    """

    def __init__(self, model: nn.Module, run: TrainingRun, stage: int, notes: list) -> None:
        self.model = model
        self.run = run
        self.stage = stage
        self.notes = list(notes)


def _structure(model: nn.Module) -> dict[str, Any]:
    """What rebuilds ``model``'s modules around a copy of its baseline."""
    layers: dict[str, Any] = {}
    acts: dict[str, int] = {}
    groups: dict[str, int] = {}
    for name, module in prunable_layers(model):
        plist = _parametrizations(module)
        if plist is not None:
            if len(plist) != 1 or not isinstance(plist[0], CompressedWeight):
                raise ValueError(f"layer {name}: a parametrization this file cannot hold")
            layers[name] = {"bits": plist[0].bits}
        aq = getattr(module, "act_quant", None)
        if isinstance(aq, ActivationQuantizer):
            acts[name] = int(aq.bits)
        if isinstance(module, nn.Conv2d):
            groups[name] = int(module.groups)
    return {
        "layers": layers,
        "acts": acts,
        "groups": groups,
        "frozen": [n for n, p in model.named_parameters() if not p.requires_grad],
        "params": [n for n, p in model.named_parameters() if p.requires_grad],
    }


def _parametrizations(module: nn.Module):
    """The parametrizations of a layer's weight, or None."""
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight
    return None


def baseline_digest(baseline: nn.Module) -> str:
    """SHA-256 of a baseline's tensors (names, dtypes, shapes and values, in order).

    Args:
        baseline: The model.
    """
    import hashlib

    h = hashlib.sha256()
    for k, v in baseline.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def save_paused(paused: Paused, baseline: nn.Module) -> bytes:
    """The file's bytes (see the module docstring).

    Args:
        paused: The paused build.
        baseline: The model the build started from (the file names it by digest).

    Raises:
        ValueError: The model holds something the file cannot rebuild (a parametrization
            other than the pipeline's constraints).
    """
    state = {
        "format": FORMAT,
        "baseline": baseline_digest(baseline),
        "stage": int(paused.stage),
        "notes": [str(n) for n in paused.notes],
        "structure": _structure(paused.model),
        "model": {k: v.detach().cpu() for k, v in paused.model.state_dict().items()},
        "run": paused.run.state_dict(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load_paused(data: bytes, baseline: nn.Module, make_run) -> Paused:
    """Rebuild a paused build from :func:`save_paused`'s bytes.

    Args:
        data: The file's bytes.
        baseline: The trained uncompressed model the build started from (not modified).
        make_run: ``(model, stage) -> TrainingRun``: the stage's fine-tuning run, as the
            pipeline starts it (its state is then loaded from the file).

    Raises:
        ArtifactError: The file is malformed, of another format, or does not fit the
            baseline.
    """
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error
        raise ArtifactError(
            f"training checkpoint is unreadable ({str(exc).splitlines()[0]})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ArtifactError("training checkpoint is of another format")
    if state.get("baseline") != baseline_digest(baseline):
        raise ArtifactError("training checkpoint is of another baseline model")
    try:
        structure = state["structure"]
        tensors: dict[str, torch.Tensor] = state["model"]
        model = copy.deepcopy(baseline).cpu()
        shapes = {_plain_key(k): tuple(v.shape) for k, v in tensors.items()}
        _resize(model, shapes, structure["groups"])
        modules = dict(model.named_modules())
        for name, spec in structure["layers"].items():
            cw = constraint(modules[name])
            prefix = f"{name}.parametrizations.weight.0."
            for buf in ("mask", "indices", "inv_counts"):
                if prefix + buf in tensors:
                    setattr(cw, buf, torch.empty_like(tensors[prefix + buf]))
            if prefix + "centroids" in tensors:
                cw.centroids = nn.Parameter(torch.empty_like(tensors[prefix + "centroids"]))
            cw.bits = spec["bits"]
        for name, bits in structure["acts"].items():
            module = modules[name]
            module.act_quant = ActivationQuantizer(int(bits))
            module.register_forward_pre_hook(_quantize_input)
        model.load_state_dict(tensors, strict=True)
        frozen = set(structure["frozen"])
        for n, p in model.named_parameters():
            p.requires_grad_(n not in frozen)
        order = [n for n, p in model.named_parameters() if p.requires_grad]
        if order != list(structure["params"]):
            raise ValueError("the rebuilt model's parameters are in another order")
        stage = int(state["stage"])
        run = make_run(model, stage)
        run.load_state_dict(state["run"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ArtifactError(
            f"training checkpoint does not fit the model: {str(exc).splitlines()[0]}"
        ) from None
    return Paused(model, run, stage, state.get("notes", []))


def _plain_key(key: str) -> str:
    """A state-dict key of a constrained layer's raw weight as the plain layer names it."""
    return key.replace(".parametrizations.weight.original", ".weight")
