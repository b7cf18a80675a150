"""ONNX export of engine models and an ONNX Runtime model usable wherever the engine takes a
PyTorch model.

Exported models take ``input`` (float32 NCHW in [0, 1], dynamic batch) and return
``features`` (the penultimate representation) and ``logits``. Compression constraints are
baked into plain weights and batch norm is folded into the convolutions by the exporter.
"""

from __future__ import annotations

import copy
import io
import warnings

import torch
from torch import nn

from moo_compress.weights.activations import remove_activation_quantizers
from moo_compress.weights.constraints import bake

__all__ = ["DEFAULT_OPSET", "OnnxModel", "export_onnx", "opset_for_export", "plain_copy"]

DEFAULT_OPSET = 17


def opset_for_export() -> int:
    """The installed onnx package's opset, capped at what PyTorch's exporter writes."""
    import onnx
    from torch.onnx import _constants

    exporter_max = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", DEFAULT_OPSET)
    return min(onnx.defs.onnx_opset_version(), exporter_max)


class _Outputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        both = getattr(self.model, "features_and_logits", None)
        if both is not None:  # a user's model: features tapped inside its own forward
            return both(x)
        f = self.model.features(x)
        return f, self.model.head(f)


def plain_copy(model: nn.Module, *, activation_quantizers: bool = True) -> nn.Module:
    """A CPU copy with constraints baked into plain weights, in eval mode; 8-bit activation
    fake quantization (QAT) is kept unless ``activation_quantizers`` is False.

    Args:
        model: The model to copy (not modified).
        activation_quantizers: Keep activation fake quantizers (default True).
    """
    plain = bake(copy.deepcopy(model).cpu().eval())
    return plain if activation_quantizers else remove_activation_quantizers(plain)


def export_onnx(
    model: nn.Module,
    input_shape: tuple[int, ...],
    opset: int = DEFAULT_OPSET,
    *,
    activation_quantizers: bool = True,
) -> bytes:
    """ONNX bytes of ``model`` with outputs ``features`` and ``logits`` (dynamic batch).

    Args:
        model: A model with ``features`` and ``head`` (exported from a :func:`plain_copy`).
        input_shape: (C, H, W) of one input.
        opset: ONNX opset to write (default :data:`DEFAULT_OPSET`).
        activation_quantizers: Export activation fake quantizers (default True).
    """
    plain = plain_copy(model, activation_quantizers=activation_quantizers)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Outputs(plain),
            (torch.zeros(1, *input_shape),),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["features", "logits"],
            dynamic_axes={"input": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}},
        )
    return buf.getvalue()


class OnnxModel(nn.Module):
    """An ONNX model (input ``input``; outputs ``features`` and ``logits``) run by ONNX
    Runtime on CPU, usable wherever the engine takes a model (``predict``, objectives).

    Args:
        onnx_bytes: The serialized ONNX model.
        float_model: The PyTorch model it was made from; attacks use it for input gradients
            (a transfer attack on the ONNX model), since ONNX Runtime has none.
    """

    def __init__(self, onnx_bytes: bytes, float_model: nn.Module | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        self.float_model = float_model
        self.onnx_bytes = onnx_bytes
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        self._session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])

    @property
    def gradient_model(self) -> nn.Module:
        """The float model that attacks take input gradients from.

        Raises:
            TypeError: The model was made without a float model.
        """
        if self.float_model is None:
            raise TypeError("this ONNX model has no float model to take gradients from")
        return self.float_model

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs of one ONNX Runtime run, on ``x``'s device.

        Args:
            x: Images, float NCHW in [0, 1].
        """
        f, logits = self._session.run(
            ["features", "logits"], {"input": x.detach().float().cpu().numpy()}
        )
        return torch.from_numpy(f).to(x.device), torch.from_numpy(logits).to(x.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation.

        Args:
            x: Images, float NCHW in [0, 1].
        """
        return self.features_and_logits(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits.

        Args:
            x: Images, float NCHW in [0, 1].
        """
        return self.features_and_logits(x)[1]

    def __deepcopy__(self, memo):
        return type(self)(self.onnx_bytes, copy.deepcopy(self.float_model, memo))
