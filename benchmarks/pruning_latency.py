"""Does compression make inference faster? Latency of compressed small CNNs against the
uncompressed model, measured in the same run (ratios > 1 mean faster).

- filter pruning (channels physically removed) at 25/50/75/90 %;
- unstructured and kernel pruning at the same ratios (masks baked into dense weights: the
  dense kernels do the same work, so no speed-up is expected);
- real int8 (ONNX Runtime) against the float model in PyTorch and in ONNX Runtime.

Median of 50 forward passes after 10 warm-ups, at batch 1 and batch 256, on the engine's
device.

    python benchmarks/pruning_latency.py    # writes benchmarks/results/pruning_latency.json
"""

from __future__ import annotations

import copy
import json
import platform
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATIOS = (0.25, 0.5, 0.75, 0.9)


def main() -> int:
    import numpy as np
    import onnxruntime as ort
    import torch

    from moo_compress._utils.device import get_device
    from moo_compress.compression.int8 import CALIBRATION_IMAGES, calibrate, export_onnx
    from moo_compress.compression.pruning import PruneContext, prune
    from moo_compress.config import TrainConfig
    from moo_compress.data.base import to_tensor
    from moo_compress.data.digits import load_digits
    from moo_compress.models.small_cnn import SmallCNN
    from moo_compress.objectives.latency import measure_latency
    from moo_compress.training import train
    from moo_compress.weights.constraints import bake, prunable_layers

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    base = SmallCNN(10, width=1.0)
    train(base, ds.x_train, ds.y_train, TrainConfig(3, 64, 0.05, 0.9, 5e-4), epochs=3, seed=0)
    base = base.cpu().eval()
    device = get_device()
    batches = {1: to_tensor(ds.x_test[:1]), 256: to_tensor(ds.x_test[:256])}

    def ms(model) -> dict[int, float]:
        model = model.to(device)
        return {
            b: 1000 * statistics.median(measure_latency(model, x.to(device), warmup=10, repeats=50))
            for b, x in batches.items()
        }

    reference = ms(base)
    rows = []
    for granularity in ("filter", "unstructured", "kernel"):
        for ratio in RATIOS:
            model = copy.deepcopy(base)
            ratios = {n: ratio for n, _ in prunable_layers(model)}
            prune(model, "magnitude", PruneContext(ratios, granularity, 0))
            bake(model)
            t = ms(model)
            rows.append(
                {
                    "granularity": granularity,
                    "ratio": ratio,
                    "params": sum(p.numel() for p in model.parameters()),
                    **{f"ms_batch{b}": v for b, v in t.items()},
                    **{f"speedup_batch{b}": reference[b] / v for b, v in t.items()},
                }
            )
            print(rows[-1])
    images = to_tensor(ds.x_train[:CALIBRATION_IMAGES]).numpy()
    int8 = ms(calibrate(base, images))
    session = ort.InferenceSession(
        export_onnx(base, (3, 32, 32)), providers=["CPUExecutionProvider"]
    )

    class FloatOrt(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(session.run(None, {"input": x.numpy().astype(np.float32)})[1])

    float_ort = ms(FloatOrt())
    result = {
        "baseline_ms": reference,
        "baseline_params": sum(p.numel() for p in base.parameters()),
        "pruning": rows,
        "int8_onnxruntime_ms": int8,
        "float_onnxruntime_ms": float_ort,
        "int8_speedup_vs_torch_float": {b: reference[b] / int8[b] for b in batches},
        "int8_speedup_vs_onnxruntime_float": {b: float_ort[b] / int8[b] for b in batches},
        "machine": f"{platform.machine()}, torch {torch.__version__}, onnxruntime "
        f"{ort.__version__}, {torch.get_num_threads()} threads, device {device}",
    }
    out = HERE / "results" / "pruning_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    import _provenance

    _provenance.record(out)
    for r in rows:
        print(
            f"{r['granularity']:>12} {100 * r['ratio']:3.0f} %: x{r['speedup_batch1']:.2f} (batch 1), "
            f"x{r['speedup_batch256']:.2f} (batch 256)"
        )
    print(f"int8 vs float torch: {result['int8_speedup_vs_torch_float']}")
    print(f"int8 vs float onnxruntime: {result['int8_speedup_vs_onnxruntime_float']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
