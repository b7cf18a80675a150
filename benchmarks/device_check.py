"""Where one trial of a user's model spends its time, on whatever device is present.

    python benchmarks/device_check.py            # ResNet-18 at 64x64 on digits, 3 trials
    python benchmarks/device_check.py --trials 5 --epochs 3

The bring-your-own example (``examples/compress_your_model.py``): a torchvision ResNet-18
trained here on scikit-learn's digits at 64x64 (the stand-in for the user's model), given to
``create_study`` as an object. The benchmark times, on the device moo-compress picks (a GPU
when present):

- ``setup``: reading the data into arrays, generating the corrupted validation images, and
  measuring the baseline (its accuracy and the robustness reference's errors);
- per configuration: building it (compression and fine-tuning, one epoch after each
  stage), and measuring ``accuracy``, ``cr``, ``mce``, the proxy (``proxy_purity``) and
  ``latency_ms`` each on its own, on the model loaded back from its artifact;
- ``export``: exporting the Pareto front (ONNX, int8, verification in ONNX Runtime) after
  a search of ``--trials`` trials.

Writes ``benchmarks/results/device_check.json`` (with the device and the machine). It must
run on this CPU machine; it will be run on a GPU machine later.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
RESULTS = ROOT / "benchmarks" / "results"
CONFIGS = {
    "unpruned 8-bit QAT": {"quant_bits": 8, "finetune_epochs": 1},
    "50 % filters + 8-bit": {
        "prune_ratio": 0.5,
        "prune_granularity": "filter",
        "quant_bits": 8,
        "finetune_epochs": 1,
    },
    "70 % unstructured + 16 clusters + int8": {
        "prune_ratio": 0.7,
        "cluster_count": 16,
        "technique": "pruning + clustering + int8",
        "finetune_epochs": 1,
    },
}
OBJECTIVES = ("accuracy", "cr", "mce", "proxy_purity", "latency_ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="trials searched before export")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of the stand-in")
    args = parser.parse_args(argv)

    import torch
    from compress_your_model import datasets, train_stand_in_model

    import moo_compress as mc
    from moo_compress._utils.device import get_device
    from moo_compress.artifact import decode_model
    from moo_compress.compression.params import resolve
    from moo_compress.space import SearchSpace
    from moo_compress.study import prepare_evaluator

    device = get_device()
    out: dict = {"device": str(device), "torch": torch.__version__, "image_size": 64}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    t0 = time.perf_counter()
    train, test = datasets(64, per_class=None)
    model = train_stand_in_model(train, epochs=args.epochs)
    out["stand_in_training_seconds"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        study = mc.create_study(
            name="device-check",
            directory=Path(tmp) / "s.moo",
            model=model,
            mean=[0.5] * 3,
            std=[0.25] * 3,
            data=mc.ImageClassificationData(train=train, test=test),
            space={
                "variables": {
                    "prune_ratio": {"type": "float", "low": 0.0, "high": 0.8, "step": 0.1},
                    "quant_bits": {"type": "categorical", "choices": [4, 8, 32]},
                    "finetune_epochs": 1,
                }
            },
            objectives=["accuracy", "cr", "mce"],
            record=list(OBJECTIVES),
        )
        out["create_study_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator = prepare_evaluator(study.cfg, log=lambda m: print(m, file=sys.stderr))
        out["setup_seconds"] = time.perf_counter() - t0
        out["setup_parts"] = {k: round(v, 3) for k, v in evaluator.setup_seconds.items()}
        out["validation_images"] = int(len(evaluator.dataset.y_test))
        out["corrupted_images"] = (
            len(evaluator.dataset.y_test) * len(evaluator.corruptions) * len(evaluator.severities)
        )
        rows = {}
        for label, partial in CONFIGS.items():
            config = resolve(partial)
            key = SearchSpace.config_key(config)
            t0 = time.perf_counter()
            artifact = evaluator.build(config, key)
            row = {"build_and_finetune": time.perf_counter() - t0}
            loaded, _ = decode_model(artifact, builders=evaluator.builders)
            for name in OBJECTIVES:
                t0 = time.perf_counter()
                value = evaluator.measure(loaded, artifact, [name])[name].value
                row[name] = time.perf_counter() - t0
                row[f"{name}_value"] = float(value)
            rows[label] = {k: round(v, 4) for k, v in row.items()}
            print(label, rows[label], flush=True)
        out["per_configuration_seconds"] = rows
        t0 = time.perf_counter()
        summary = study.optimize(n_trials=args.trials, show_progress=False, log=lambda m: None)
        out["search"] = {"trials": summary["complete"], "seconds": time.perf_counter() - t0}
        front = study.pareto(all_trials=False)
        t0 = time.perf_counter()
        if len(front):
            exported = study.export(Path(tmp) / "exported")
            out["export"] = {"models": len(exported), "seconds": time.perf_counter() - t0}
        else:
            out["export"] = {"models": 0, "note": "no model met the constraints"}
    path = RESULTS / "device_check.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    import _provenance

    _provenance.record(path)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
