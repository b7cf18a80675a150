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
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from moo_compress.compression.stage import StageContext
from moo_compress.onnx_runtime import OnnxModel, export_onnx
from moo_compress.weights.constraints import constraint, prunable_layers

__all__ = [
    "CALIBRATION_IMAGES",
    "OPSET",
    "Int8Model",
    "activation_qparams",
    "build",
    "calibrate",
    "int8_stage",
]

CALIBRATION_IMAGES = 200
OPSET = 17  # of the int8 model (stored with it, so that loading rebuilds the same model)


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
    """{activation tensor: [scale, zero point]} of a QDQ model (weights excluded).

    Args:
        int8_onnx: The serialized QDQ model.
    """
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


class Int8Model(OnnxModel):
    """The int8 ONNX model of ``float_model`` with its activation parameters ``int8_spec``.

    Args:
        float_model: The float model it was quantized from (kept for gradients and export).
        int8_onnx: The serialized int8 (QDQ) model that ONNX Runtime runs.
        int8_spec: ``opset``, ``input_shape`` and ``qparams`` (see :func:`activation_qparams`),
            what :func:`build` needs to make the same model again.
    """

    def __init__(self, float_model: nn.Module, int8_onnx: bytes, int8_spec: dict[str, Any]) -> None:
        super().__init__(int8_onnx, float_model)
        self.int8_spec = int8_spec

    def __deepcopy__(self, memo):
        return Int8Model(
            copy.deepcopy(self.float_model, memo), self.onnx_bytes, dict(self.int8_spec)
        )


def calibrate(model: nn.Module, images: np.ndarray) -> Int8Model:
    """Quantize ``model`` with min/max ranges from ``images`` (float NCHW in [0, 1]).

    Args:
        model: The float model (constraints baked into the export; not modified).
        images: Calibration images, float NCHW in [0, 1]; their shape sets the input shape.
    """
    input_shape = tuple(images.shape[1:])
    float_onnx = export_onnx(model, input_shape, activation_quantizers=False)
    int8_onnx = _quantize(float_onnx, [images.astype(np.float32)], None)
    spec = {
        "opset": OPSET,
        "input_shape": list(input_shape),
        "qparams": activation_qparams(int8_onnx),
    }
    return build(model, spec, int8_onnx)


def build(model: nn.Module, spec: dict[str, Any], int8_onnx: bytes | None = None) -> Int8Model:
    """The int8 model of ``model`` with stored activation parameters ``spec``.

    Args:
        model: The float model.
        spec: ``input_shape``, ``qparams`` and ``opset`` (default :data:`OPSET`), as stored in
            the artifact.
        int8_onnx: The int8 model already made (default None: export ``model`` and quantize it
            with the stored parameters, which gives the same model again).
    """
    if int8_onnx is None:
        input_shape = tuple(spec["input_shape"])
        float_onnx = export_onnx(
            model, input_shape, int(spec.get("opset", OPSET)), activation_quantizers=False
        )
        dummy = [np.zeros((1, *input_shape), dtype=np.float32)]
        int8_onnx = _quantize(float_onnx, dummy, _overrides(spec["qparams"]))
    return Int8Model(model, int8_onnx, spec)


def int8_stage(model: nn.Module, config: dict[str, Any], ctx: StageContext) -> Int8Model:
    """The pipeline's post-training int8 stage: weights still in float get 8-bit storage,
    and the model is quantized with ranges from :data:`CALIBRATION_IMAGES` training images.

    Args:
        model: The float model, in eval mode (not modified).
        config: The resolved configuration.
        ctx: The build's data and settings.
    """
    from moo_compress.data.base import to_tensor  # the data room: torch, and images as floats

    for _, module in prunable_layers(model):  # int8 storage of still-float weights
        cw = constraint(module)
        if cw.bits is None:
            cw.bits = 8
    images = to_tensor(ctx.sample(CALIBRATION_IMAGES, ctx.seed + 4)).numpy()
    notes = getattr(model, "compression_skipped", None)
    out = calibrate(model, images)
    if notes:  # what a stage skipped stays known on the int8 model
        out.compression_skipped = notes
    return out
