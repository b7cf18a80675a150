"""Inference latency of the model as stored and loaded (the int8 model runs in ONNX Runtime).

Wall time of one forward pass over ``batch_size`` test images (default 1, the deployment
case) on the engine's device, measured so that it repeats on a busy machine:

- the thread count is pinned (``latency.threads``, default 1) for PyTorch and for a fresh
  ONNX Runtime session, so the figure does not depend on how many threads the rest of the
  process (or a competing worker) happens to use;
- ``warmup`` passes are run first; the ``repeats`` timed passes are split into
  :data:`BLOCKS` consecutive blocks, and the value is the **smallest block median**: a
  burst of load from another process slows down a block, not every block, and a single
  slow pass moves no median.

The trial stores the spread with the value (every block median, min, p10, p90, max).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import torch

from moo_compress._utils.device import get_device
from moo_compress.data.base import to_tensor
from moo_compress.objectives.base import Measurements, ObjectiveResult
from moo_compress.onnx_runtime import OnnxModel

__all__ = ["BLOCKS", "latency", "measure_latency", "pinned_threads", "robust_latency"]

BLOCKS = 5


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` PyTorch intra-op threads, restoring the previous count.

    Args:
        n: Number of threads (at least 1 is used).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def measure_latency(model, x: torch.Tensor, *, warmup: int, repeats: int) -> list[float]:
    """Seconds per forward pass of ``x``, one entry per repeat.

    Args:
        model: Any callable module (PyTorch or an ONNX Runtime wrapper).
        x: The input batch, on the model's device.
        warmup: Untimed passes first.
        repeats: Timed passes.

    Returns:
        Seconds of each timed pass, in order.
    """
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


def robust_latency(times: list[float], blocks: int = BLOCKS) -> tuple[float, list[float]]:
    """(smallest median over ``blocks`` consecutive blocks of ``times``, the block medians).

    Args:
        times: Seconds per pass, in the order they were measured.
        blocks: Number of blocks (default :data:`BLOCKS`; fewer when there are fewer
            passes).
    """
    k = max(1, min(blocks, len(times)))
    size = len(times) // k
    medians = [
        statistics.median(times[i * size : (i + 1) * size if i < k - 1 else len(times)])
        for i in range(k)
    ]
    return min(medians), medians


def latency(m: Measurements) -> ObjectiveResult:
    """Latency objective (ms); see the module docstring for how it is measured.

    An int8 model (one with ``onnx_bytes``) runs in a fresh ONNX Runtime session on the CPU;
    any other model runs in PyTorch on the engine's device.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``model``,
            ``x_test`` and the ``latency`` settings).

    Returns:
        The smallest block median in ms, with the spread, settings, backend and thread count
        as details.
    """

    cfg = m.latency
    threads = int(cfg["threads"])  # settings of the study's ``latency`` section
    device = get_device()
    with pinned_threads(threads):
        if hasattr(m.model, "onnx_bytes"):  # a session whose thread count is pinned too
            model, backend = OnnxModel(m.model.onnx_bytes), "onnxruntime-cpu"
        else:
            model, backend = m.model.to(device), f"torch-{device.type}"
        x = to_tensor(m.x_test[: cfg["batch_size"]]).to(device)
        times = measure_latency(model, x, warmup=cfg["warmup"], repeats=cfg["repeats"])
    value, medians = robust_latency(times)
    ordered = sorted(times)
    return ObjectiveResult(
        1000.0 * value,
        {
            "batch_size": cfg["batch_size"],
            "warmup": cfg["warmup"],
            "repeats": cfg["repeats"],
            "statistic": f"min of {len(medians)} block medians",
            "block_medians_ms": [1000.0 * t for t in medians],
            "min_ms": 1000.0 * ordered[0],
            "p10_ms": 1000.0 * ordered[len(ordered) // 10],
            "median_ms": 1000.0 * statistics.median(ordered),
            "p90_ms": 1000.0 * ordered[(9 * len(ordered)) // 10],
            "max_ms": 1000.0 * ordered[-1],
            "spread_ms": 1000.0 * (max(medians) - min(medians)),
            "backend": backend,
            "threads": threads,
        },
    )
