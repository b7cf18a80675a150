"""Inference latency of the model as stored and loaded (the int8 model runs in ONNX Runtime).

Median wall time of one forward pass over ``batch_size`` test images (default 1, the
deployment case), after ``warmup`` passes, over ``repeats`` passes, on the engine's device.
"""

from __future__ import annotations

import statistics
import time

import torch

from moo_compress.objectives.base import ObjectiveResult

WARMUP = 5
REPEATS = 30


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency(
    model, x: torch.Tensor, *, warmup: int = WARMUP, repeats: int = REPEATS
) -> list[float]:
    """Seconds per forward pass of ``x``, one entry per repeat."""
    model.eval()
    device = x.device
    for _ in range(warmup):
        model(x)
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def latency(m) -> ObjectiveResult:
    from moo_compress.data.base import to_tensor
    from moo_compress.device import get_device

    cfg = m.latency
    device = get_device()
    model = m.model.to(device)
    x = to_tensor(m.x_test[: cfg["batch_size"]]).to(device)
    times = sorted(measure_latency(model, x, warmup=cfg["warmup"], repeats=cfg["repeats"]))
    backend = "onnxruntime-cpu" if hasattr(m.model, "onnx_bytes") else f"torch-{device.type}"
    return ObjectiveResult(
        1000.0 * statistics.median(times),
        {
            "batch_size": cfg["batch_size"],
            "warmup": cfg["warmup"],
            "repeats": cfg["repeats"],
            "p10_ms": 1000.0 * times[len(times) // 10],
            "p90_ms": 1000.0 * times[(9 * len(times)) // 10],
            "backend": backend,
            "threads": torch.get_num_threads(),
        },
    )
