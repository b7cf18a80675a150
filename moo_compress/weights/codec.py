"""The packed model file's codec: what CR measures, what ``export`` writes and ``evaluate``
loads (rebuilding the architecture around it is :func:`moo_compress.artifact.decode_model`).

Layout (no pickle anywhere; loading never executes code from the file)::

    b"MOOCMPv1" | uint64 little-endian header length | UTF-8 JSON header | payload bytes

The header names the architecture (rebuilt from the registry, then resized to the stored
tensor shapes when filters were physically removed), the compression stages that change the
forward pass (8-bit activation fake quantization; the int8 model's activation scales) and,
for every state-dict tensor, where its bytes are and how they are encoded:

- ``raw``: plain little-endian array (biases, batch-norm parameters and buffers, and the
  weights of an uncompressed model);
- ``packed`` (conv/linear weights of a compressed model): an optional sparsity bitmap (per
  element, or per output channel for filter pruning) and only the surviving weights, as
  float32, as cluster indices at ceil(log2 k) bits with a float32 codebook, or as b-bit
  integers with one float32 scale per output channel.

Reconstruction uses the very functions the fake-quantized forward pass used, so a loaded
model's outputs equal the search-time model's outputs bit for bit.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress.errors import ArtifactError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "MAGIC",
    "deflate_size",
    "encode_model",
    "model_bytes",
    "pack_bits",
    "parameter_bits",
    "read_header",
    "restore",
    "unpack_bits",
]

MAGIC = b"MOOCMPv1"


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative ints < 2**bits into a little-endian bit stream.

    Args:
        values: The integers (flattened).
        bits: Bits per value.

    Raises:
        ValueError: A value needs more than ``bits`` bits.
    """
    values = np.asarray(values, dtype=np.uint64).ravel()
    if values.size and int(values.max()) >= 2**bits:
        raise ValueError(f"value {int(values.max())} does not fit in {bits} bits")
    shifts = np.arange(bits, dtype=np.uint64)
    bit_matrix = ((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bit_matrix.ravel(), bitorder="little").tobytes()


def unpack_bits(buf: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`.

    Args:
        buf: The packed stream.
        bits: Bits per value.
        count: Number of values to read.

    Returns:
        The values as int64.

    Raises:
        ArtifactError: The stream holds fewer than ``count * bits`` bits.
    """
    flat = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")[: count * bits]
    if flat.size != count * bits:
        raise ArtifactError(f"packed stream holds {flat.size} bits, expected {count * bits}")
    weights = (np.uint64(1) << np.arange(bits, dtype=np.uint64)).astype(np.uint64)
    return (flat.reshape(count, bits).astype(np.uint64) * weights).sum(axis=1).astype(np.int64)


class _Writer:
    def __init__(self) -> None:
        self.payload = bytearray()

    def add(self, data: bytes) -> dict[str, int]:
        ref = {"offset": len(self.payload), "nbytes": len(data)}
        self.payload += data
        return ref


def _encode_layer(module, writer: _Writer) -> dict[str, Any]:
    # torch: reading a header (the study-file check reads MAGIC) loads none
    import torch

    from moo_compress.weights.constraints import (
        channel_scale,
        existing_constraint,
        quantize_codes,
        raw_weight,
    )

    cw = existing_constraint(module)
    with torch.no_grad():
        w_eff = module.weight.detach().float().cpu()
        entry: dict[str, Any] = {
            "encoding": "packed",
            "shape": list(w_eff.shape),
            "dtype": "float32",
        }
        kept = torch.ones(w_eff.numel(), dtype=torch.bool)
        if cw.mask is not None and not bool(cw.mask.bool().all()):
            mask = cw.mask.detach().bool().cpu()
            per_channel = mask.reshape(mask.shape[0], -1)
            if bool((per_channel == per_channel[:, :1]).all()):
                bitmap = per_channel[:, 0].numpy()
                entry["mask"] = {
                    "kind": "channel",
                    **writer.add(np.packbits(bitmap, bitorder="little").tobytes()),
                }
            else:
                entry["mask"] = {
                    "kind": "element",
                    **writer.add(np.packbits(mask.flatten().numpy(), bitorder="little").tobytes()),
                }
            kept = mask.flatten()
        if cw.indices is not None:
            k = int(cw.centroids.numel())
            idx_bits = max(1, math.ceil(math.log2(k)))
            idx = cw.indices.detach().cpu().flatten()[kept].numpy()
            entry["values"] = {
                "kind": "cluster",
                "k": k,
                "index_bits": idx_bits,
                "quant_bits": cw.bits,
                "codebook": writer.add(
                    cw.centroids.detach().float().cpu().numpy().astype("<f4").tobytes()
                ),
                "indices": writer.add(pack_bits(idx, idx_bits)),
            }
        elif cw.bits is not None:
            w_pre = raw_weight(module).detach().float().cpu()
            if cw.mask is not None:
                w_pre = w_pre * cw.mask.detach().float().cpu()
            qmax = 2 ** (cw.bits - 1) - 1
            scale = channel_scale(w_pre, cw.bits)
            codes = quantize_codes(w_pre, scale, qmax).flatten()[kept].to(torch.int64) + qmax
            entry["values"] = {
                "kind": "int",
                "bits": cw.bits,
                "scales": writer.add(scale.flatten().numpy().astype("<f4").tobytes()),
                "codes": writer.add(pack_bits(codes.numpy(), cw.bits)),
            }
        else:
            entry["values"] = {
                "kind": "float32",
                **writer.add(w_eff.flatten()[kept].numpy().astype("<f4").tobytes()),
            }
    return entry


def encode_model(
    model: nn.Module, arch: dict[str, Any], metadata: dict[str, Any] | None = None
) -> bytes:
    """Serialize a (possibly compressed) model to the packed format.

    Args:
        model: The model; conv/linear layers may carry compression constraints. An int8
            model (``compression.int8.Int8Model``) is stored as its float model plus its
            activation quantization parameters.
        arch: ``{"name": registry name, "kwargs": constructor arguments}``.
        metadata: JSON-serialisable extras stored in the header (default None: none).
    """
    # torch: reading a header (the study-file check reads MAGIC) loads none
    from torch import nn

    from moo_compress.weights.constraints import existing_constraint, prunable_layers

    int8 = None
    if getattr(model, "int8_spec", None) is not None:
        int8, model = model.int8_spec, model.float_model
    stages: dict[str, Any] = {}
    if int8 is not None:
        stages["int8"] = int8
    act = [n for n, m in prunable_layers(model) if hasattr(m, "act_quant")]
    if act:
        stages["act_bits"] = {n: int(model.get_submodule(n).act_quant.bits) for n in act}
    groups = {
        n: int(m.groups)
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups != 1
    }
    if groups:
        stages["conv_groups"] = groups
    writer = _Writer()
    tensors: dict[str, Any] = {}
    packed = {}
    for name, module in prunable_layers(model):
        if existing_constraint(module) is not None:
            packed[f"{name}.weight" if name else "weight"] = _encode_layer(module, writer)
    for key, value in _plain_state_dict(model).items():
        if key in packed:
            tensors[key] = packed[key]
            continue
        arr = value.detach().cpu().numpy()
        dtype = arr.dtype.newbyteorder("<").str
        tensors[key] = {
            "encoding": "raw",
            "dtype": dtype,
            "shape": list(arr.shape),
            **writer.add(arr.astype(dtype).tobytes()),
        }
    header = json.dumps(
        {
            "format": 1,
            "arch": arch,
            "stages": stages,
            "tensors": tensors,
            "metadata": metadata or {},
        },
        sort_keys=True,
    ).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + bytes(writer.payload)


def _plain_state_dict(model) -> dict[str, Any]:
    """State dict with parametrized weights under their plain names (``x.weight``)."""
    out = {}
    for key, value in model.state_dict().items():
        if ".parametrizations.weight." in key:
            if key.endswith(".parametrizations.weight.original"):
                base = key[: -len(".parametrizations.weight.original")]
                module = model.get_submodule(base)
                out[f"{base}.weight"] = module.weight
            continue
        out[key] = value
    return out


def _slice(payload: memoryview, ref: dict[str, Any], what: str) -> bytes:
    try:
        off, n = int(ref["offset"]), int(ref["nbytes"])
    except (KeyError, TypeError, ValueError):
        raise ArtifactError(f"{what}: missing offset/nbytes in header") from None
    if off < 0 or n < 0 or off + n > len(payload):
        raise ArtifactError(
            f"{what}: data range {off}+{n} lies outside the file's payload ({len(payload)} bytes)"
        )
    return bytes(payload[off : off + n])


def _decode_packed(entry: dict[str, Any], payload: memoryview, key: str):
    # torch: reading a header (the study-file check reads MAGIC) loads none
    import torch

    from moo_compress.weights.constraints import channel_scale, quantize_codes

    shape = tuple(entry["shape"])
    numel = int(np.prod(shape))
    mask_ref = entry.get("mask")
    if mask_ref is None:
        kept = np.ones(numel, dtype=bool)
    elif mask_ref["kind"] == "channel":
        bits = np.unpackbits(
            np.frombuffer(_slice(payload, mask_ref, key), dtype=np.uint8), bitorder="little"
        )[: shape[0]].astype(bool)
        kept = np.repeat(bits, numel // shape[0])
    elif mask_ref["kind"] == "element":
        kept = np.unpackbits(
            np.frombuffer(_slice(payload, mask_ref, key), dtype=np.uint8), bitorder="little"
        )[:numel].astype(bool)
    else:
        raise ArtifactError(f"{key}: unknown mask kind {mask_ref['kind']!r}")
    n_kept = int(kept.sum())
    kept_t = torch.from_numpy(kept)
    values = entry["values"]
    w = torch.zeros(numel, dtype=torch.float32)
    if values["kind"] == "float32":
        w[kept_t] = torch.from_numpy(
            np.frombuffer(_slice(payload, values, key), dtype="<f4").astype(np.float32).copy()
        )
        return w.reshape(shape)
    if values["kind"] == "cluster":
        codebook = torch.from_numpy(
            np.frombuffer(_slice(payload, values["codebook"], key), dtype="<f4")
            .astype(np.float32)
            .copy()
        )
        idx = unpack_bits(
            _slice(payload, values["indices"], key), int(values["index_bits"]), n_kept
        )
        if idx.size and idx.max() >= codebook.numel():
            raise ArtifactError(f"{key}: cluster index out of range of the codebook")
        w[kept_t] = codebook[torch.from_numpy(idx)]
        w = w.reshape(shape)
        if values.get("quant_bits"):
            bits = int(values["quant_bits"])
            scale = channel_scale(w, bits)
            w = quantize_codes(w, scale, 2 ** (bits - 1) - 1) * scale
        return w
    if values["kind"] == "int":
        bits = int(values["bits"])
        qmax = 2 ** (bits - 1) - 1
        scales = torch.from_numpy(
            np.frombuffer(_slice(payload, values["scales"], key), dtype="<f4")
            .astype(np.float32)
            .copy()
        )
        codes = unpack_bits(_slice(payload, values["codes"], key), bits, n_kept) - qmax
        w[kept_t] = torch.from_numpy(codes.astype(np.float32))
        return w.reshape(shape) * scales.reshape(-1, *([1] * (len(shape) - 1)))
    raise ArtifactError(f"{key}: unknown value encoding {values['kind']!r}")


def parameter_bits(data: bytes) -> int:
    """Bits of the model's parameters at their stored precision: the bit-packed payload
    (masks, surviving weights, cluster indices and codebooks, b-bit codes and scales, raw
    tensors), without the file's JSON header. The "theoretical bits" of a compression ratio.

    Args:
        data: A packed model file's bytes.

    Raises:
        ArtifactError: ``data`` is not a model file or its header is broken.
    """
    return len(read_header(data)[1]) * 8


def read_header(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """Split a model file into its JSON header and its payload.

    Args:
        data: A packed model file's bytes.

    Returns:
        ``(header, payload)``; the payload is a view of ``data`` after the header.

    Raises:
        ArtifactError: Bad magic bytes, a truncated file or a header that is not JSON.
    """
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise ArtifactError("not a moo-compress model file (bad magic bytes)")
    (n,) = struct.unpack("<Q", data[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if start + n > len(data):
        raise ArtifactError("truncated model file (header runs past the end)")
    try:
        header = json.loads(data[start : start + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"model file header is not valid JSON ({exc})") from None
    return header, memoryview(data)[start + n :]


def restore(model: nn.Module, header: dict[str, Any], payload: memoryview) -> nn.Module:
    """Load a file's tensors into ``model``, the architecture its header names, freshly built:
    8-bit activation fake quantization where the file has it, layers resized to the stored
    shapes (filters removed by structured pruning), the stored weights, eval mode.

    Args:
        model: The header's architecture, as built from the registry.
        header: :func:`read_header`'s header.
        payload: :func:`read_header`'s payload.

    Returns:
        The same ``model`` (an int8 model's float part; ``header["stages"]["int8"]`` says
        how to build its int8 model).

    Raises:
        ArtifactError: The file is malformed or does not fit the architecture.
    """
    # torch: reading a header (the study-file check reads MAGIC) loads none
    import torch

    from moo_compress.weights.activations import quantize_activations

    stages = header.get("stages") or {}
    if stages.get("act_bits"):
        quantize_activations(model, 8)
    state = {}
    for key, entry in header["tensors"].items():
        if entry["encoding"] == "raw":
            arr = np.frombuffer(
                _slice(payload, entry, key), dtype=np.dtype(entry["dtype"])
            ).reshape(entry["shape"])
            state[key] = torch.from_numpy(arr.copy())
        elif entry["encoding"] == "packed":
            state[key] = _decode_packed(entry, payload, key)
        else:
            raise ArtifactError(f"{key}: unknown encoding {entry['encoding']!r}")
    try:
        _resize(model, {k: tuple(v.shape) for k, v in state.items()}, stages.get("conv_groups", {}))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        name = (header.get("arch") or {}).get("name")
        raise ArtifactError(
            f"model file does not match architecture {name}: {str(exc).splitlines()[0]}"
        ) from None
    return model.eval()


def _resize(model, shapes: dict[str, tuple[int, ...]], groups: dict[str, int]) -> None:
    """Give layers the stored shapes (filters removed by structured pruning)."""
    import torch
    from torch import nn

    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        changed = False
        for table in (module._parameters, module._buffers):
            for key, value in list(table.items()):
                shape = shapes.get(prefix + key)
                if value is None or shape is None or tuple(value.shape) == shape:
                    continue
                new = torch.empty(shape, dtype=value.dtype)
                table[key] = (
                    nn.Parameter(new, value.requires_grad) if table is module._parameters else new
                )
                changed = True
        if not changed:
            continue
        if isinstance(module, nn.Conv2d):
            module.groups = int(groups.get(name, 1))
            module.out_channels = module.weight.shape[0]
            module.in_channels = module.weight.shape[1] * module.groups
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = module.weight.shape
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.num_features = module.running_mean.shape[0]


def model_bytes(data: bytes) -> bytes:
    """The artifact without its ``metadata`` header entry: the bytes that describe the model.

    CR compares these, so a trial artifact (which records its configuration in the
    metadata) and the baseline artifact (which records none) are measured the same way, and
    an unchanged model has CR exactly 1.

    Args:
        data: A packed model file's bytes.

    Returns:
        ``data`` itself when its metadata is empty, else the file rewritten with empty
        metadata.

    Raises:
        ArtifactError: Bad magic bytes or a header that is not JSON.
    """
    if data[: len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + 8:
        raise ArtifactError("not a moo-compress model file (bad magic)")
    (n,) = struct.unpack("<Q", data[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    try:
        header = json.loads(data[start : start + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"model file header is not JSON ({exc})") from None
    if not header.get("metadata"):
        return data
    header["metadata"] = {}
    text = json.dumps(header, sort_keys=True).encode()
    return MAGIC + struct.pack("<Q", len(text)) + text + data[start + n :]


def deflate_size(data: bytes, arcname: str = "model.mcz") -> int:
    """Bytes of a DEFLATE zip archive holding ``data`` (the TF-MOT / seed-000 convention).

    The archive's member has a fixed date, so the size depends on ``data`` only.

    Args:
        data: The bytes to archive.
        arcname: The member's name in the archive (default ``"model.mcz"``).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
    return len(buf.getvalue())
