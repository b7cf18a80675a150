"""A user's weights file, read without running code.

A weights file is untrusted: it may come from anywhere. :func:`load_state_dict` reads

- safetensors files (``.safetensors``, or any file that starts like one): tensors only, by
  construction;
- PyTorch files (``torch.save``) through ``torch.load(weights_only=True)``, whose unpickler
  builds tensors, containers and numbers and refuses every other object. A file that needs
  code to load (a pickled ``nn.Module``, or a payload that would call a function) is refused
  in one line and nothing in it runs.

:func:`load_weights` puts a state dict into a model and names what does not fit: the first
missing and unexpected keys and the tensors whose shapes differ.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress.errors import DataError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["SHOWN_KEYS", "file_digest", "load_state_dict", "load_weights"]

#: Keys named per kind in a mismatch message (the rest are counted).
SHOWN_KEYS = 5


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks.

    Args:
        path: The file.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_safetensors(path: Path) -> bool:
    """Whether ``path`` starts as a safetensors file does: an 8-byte little-endian header
    length, then a JSON object."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < size <= path.stat().st_size - 8


#: Modules whose objects a state dict's pickle may name (tensors, their storages, ordered
#: dicts); any other name is code that unpickling would call.
_DATA_MODULES = ("torch", "collections", "_codecs", "numpy")


def _code_named(path: Path) -> list[str]:
    """The callables a pickle (plain, or the ``data.pkl`` of a ``torch.save`` zip) names
    outside :data:`_DATA_MODULES`, read with ``pickletools`` (which runs nothing)."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                member = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(member) if member else b""
        else:
            data = path.read_bytes()
        names: list[str] = []
        pushed: list[str | None] = []  # what each op left on the stack (strings only)
        memo: dict[int, str | None] = {}
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                pushed.append(str(arg))
            elif op.name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = pushed[-1] if pushed else None
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                pushed.append(memo.get(int(arg)))
            elif op.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
                pushed.append(None)
            elif op.name == "STACK_GLOBAL":
                module, name = (
                    (pushed[-2:] + [None, None])[:2] if len(pushed) >= 2 else (None, None)
                )
                names.append(f"{module}.{name}" if module and name else "an object")
                pushed.append(None)
            elif op.name not in ("FRAME", "PROTO"):
                pushed.append(None)
    except Exception:  # noqa: BLE001  (not a pickle: nothing it would call)
        return []
    return [n for n in names if n.split(".")[0] not in _DATA_MODULES]


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, by name, on the CPU.

    A checkpoint dict holding its weights under ``state_dict`` or ``model`` is unwrapped, and
    the ``module.`` prefix that ``DataParallel`` adds is removed when every key has it.

    Args:
        path: A safetensors file or a ``torch.save`` file of a state dict.

    Raises:
        DataError: The file is missing, is not a weights file, or needs code to load.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such weights file")
    if _is_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable safetensors file ({exc})") from None
    else:
        try:
            with warnings.catch_warnings():  # a pickle protocol other than torch.save's
                warnings.simplefilter("ignore", UserWarning)
                state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            needs = _code_named(path)
            if not needs:  # not a pickle of tensors at all
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                why = next((ln for ln in lines if ln.startswith("Unsupported")), type(exc).__name__)
                raise DataError(f"{path}: not a weights file ({why})") from None
            raise DataError(
                f"{path}: refused: loading it would run code (it names {needs[0]}). Save the "
                "weights only: safetensors.torch.save_file(model.state_dict(), ...) or "
                "torch.save(model.state_dict(), ...)"
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise DataError(
                f"{path}: not a weights file ({str(exc).strip().splitlines()[0]})"
            ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not state:
        raise DataError(f"{path}: holds no state dict (a dict of tensors by parameter name)")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise DataError(f"{path}: {bad[0]!r} is not a tensor (a state dict holds tensors only)")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = len(keys) - SHOWN_KEYS
    return shown + (f" (+{more} more)" if more > 0 else "")


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a weights file into ``model`` (in place), every key and shape matching.

    Args:
        model: The freshly built model.
        path: Its weights (see :func:`load_state_dict`).

    Returns:
        The same ``model``.

    Raises:
        DataError: The file cannot be read safely, or its tensors do not fit the model (the
            first missing and unexpected keys and the first shape mismatches are named).
    """
    state = load_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_named(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_named(unexpected)}")
    if shapes:
        problems.append(f"shapes differ (file vs model): {_named(shapes)}")
    if problems:
        raise DataError(f"{path}: the weights do not fit the model; " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model
