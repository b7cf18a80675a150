"""The packed model file: what CR measures, what ``export`` writes and ``evaluate`` loads.

The file's layout and its codec are :mod:`moo_compress.weights.codec`; this module rebuilds
the architecture around it (the model registry, the int8 model of ONNX Runtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress.weights.codec import (
    MAGIC,
    deflate_size,
    encode_model,
    model_bytes,
    pack_bits,
    parameter_bits,
    read_header,
    restore,
    unpack_bits,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "MAGIC",
    "decode_model",
    "deflate_size",
    "encode_model",
    "load_model",
    "model_bytes",
    "pack_bits",
    "parameter_bits",
    "read_header",
    "unpack_bits",
]


def decode_model(
    data: bytes, *, builders: tuple[str, ...] = ()
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a plain ``nn.Module`` (weights baked, eval mode) from packed bytes.

    A stored int8 model comes back as ``compression.int8.Int8Model``.

    Args:
        data: A packed model file's bytes.
        builders: User builders (``"package.module:callable"``) trusted to rebuild the
            architecture (default: none; see :func:`moo_compress.models.build_model`).

    Returns:
        ``(model, header)``.

    Raises:
        ArtifactError: The file is malformed, names an unknown architecture or does not fit
            it.
    """
    from moo_compress.models import build_model  # torch: kept out of reading a header

    header, payload = read_header(data)
    model = restore(build_model(header.get("arch", {}), builders=builders), header, payload)
    int8 = (header.get("stages") or {}).get("int8")
    if int8:
        from moo_compress.compression.int8 import build  # ONNX Runtime, for int8 files only

        model = build(model, int8)
    return model, header


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """:func:`decode_model` of a file.

    Args:
        path: The packed model file.

    Returns:
        ``(model, header)``.
    """
    return decode_model(Path(path).read_bytes())
