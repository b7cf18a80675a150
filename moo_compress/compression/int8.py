"""Real full-integer int8 post-training quantization, executed by ONNX Runtime on CPU.

The float model (every earlier stage baked in, activation fake-quantizers removed) is
exported to ONNX (batch norm folded into the convolutions), and ONNX Runtime's static
quantizer writes a QDQ model: int8 weights per output channel (symmetric), uint8
activations per tensor with ranges calibrated by min/max on 200 training images (seed
000's calibration set). ONNX Runtime fuses the QDQ pairs into integer kernels
(``QLinearConv``, ``QGemm``), so accuracy, size and latency measured on :class:`Int8Model`
are those of the int8 model.

The packed artifact stores the float model and the activation scales/zero points; loading
it re-exports and re-quantizes with those parameters (``TensorQuantOverrides``), which
reproduces the same int8 model.
"""

from __future__ import annotations

import copy
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

CALIBRATION_IMAGES = 200
OPSET = 17


class _Outputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        f = self.model.features(x)
        return f, self.model.head(f)


def plain_copy(model: nn.Module) -> nn.Module:
    """A CPU copy with constraints baked into plain weights and no fake quantizers."""
    from moo_compress.compression.constraints import bake
    from moo_compress.compression.quantization import remove_activation_quantizers

    plain = copy.deepcopy(model).cpu().eval()
    return remove_activation_quantizers(bake(plain))


def export_onnx(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """ONNX bytes of ``model`` with outputs ``features`` and ``logits`` (dynamic batch)."""
    plain = plain_copy(model)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Outputs(plain),
            (torch.zeros(1, *input_shape),),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["features", "logits"],
            dynamic_axes={"input": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}},
        )
    return buf.getvalue()


def _quantize(float_onnx: bytes, batches: list[np.ndarray], overrides: dict | None) -> bytes:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {"input": x}

    reader = Reader()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs "consider pre-processing" at WARNING
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(float_onnx)
            quantize_static(
                str(src),
                str(dst),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                extra_options={"TensorQuantOverrides": overrides} if overrides else {},
            )
            return dst.read_bytes()
    finally:
        root.setLevel(level)


def activation_qparams(int8_onnx: bytes) -> dict[str, list[float]]:
    """{activation tensor: [scale, zero point]} of a QDQ model (weights excluded)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(int8_onnx).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = {}
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale_name = node.input[1]
            tensor = scale_name[: -len("_scale")] if scale_name.endswith("_scale") else scale_name
            out[tensor] = [float(inits[scale_name]), int(inits[node.input[2]])]
    return out


def _overrides(qparams: dict[str, list[float]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [{"scale": np.array(s, dtype=np.float32), "zero_point": np.array(z, dtype=np.uint8)}]
        for name, (s, z) in sorted(qparams.items())
    }


class Int8Model(nn.Module):
    """An int8 ONNX model run by ONNX Runtime, with its float twin for gradients.

    ``forward``/``features``/``features_and_logits`` run the int8 model (no gradient);
    ``gradient_model`` is the float model it was quantized from, which attacks use to
    compute input gradients (a transfer attack on the deployed int8 model).
    """

    def __init__(self, float_model: nn.Module, int8_onnx: bytes, spec: dict[str, Any]) -> None:
        super().__init__()
        import onnxruntime as ort

        self.float_model = float_model
        self.onnx_bytes = int8_onnx
        self.spec = spec
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        self._session = ort.InferenceSession(int8_onnx, opts, providers=["CPUExecutionProvider"])

    @property
    def gradient_model(self) -> nn.Module:
        return self.float_model

    def features_and_logits(self, x: torch.Tensor):
        f, logits = self._session.run(None, {"input": x.detach().float().cpu().numpy()})
        return torch.from_numpy(f).to(x.device), torch.from_numpy(logits).to(x.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]

    def __deepcopy__(self, memo):
        return Int8Model(copy.deepcopy(self.float_model, memo), self.onnx_bytes, dict(self.spec))


def calibrate(model: nn.Module, images: np.ndarray) -> Int8Model:
    """Quantize ``model`` with min/max ranges from ``images`` (float NCHW in [0, 1])."""
    input_shape = tuple(images.shape[1:])
    float_onnx = export_onnx(model, input_shape)
    int8_onnx = _quantize(float_onnx, [images.astype(np.float32)], None)
    spec = {
        "opset": OPSET,
        "input_shape": list(input_shape),
        "qparams": activation_qparams(int8_onnx),
    }
    return build(model, spec, int8_onnx)


def build(model: nn.Module, spec: dict[str, Any], int8_onnx: bytes | None = None) -> Int8Model:
    """The int8 model of ``model`` with stored activation parameters ``spec``."""
    if int8_onnx is None:
        input_shape = tuple(spec["input_shape"])
        float_onnx = export_onnx(model, input_shape)
        dummy = [np.zeros((1, *input_shape), dtype=np.float32)]
        int8_onnx = _quantize(float_onnx, dummy, _overrides(spec["qparams"]))
    return Int8Model(model, int8_onnx, spec)
