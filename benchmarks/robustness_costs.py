"""Cost of robustness measurement, as ratios measured in one run on this machine.

1. mCE evaluation with cached (memory-mapped) corrupted data: 15 corruptions x 5 severities
   against 75 x one clean evaluation of the same model and test set (target <= 1.15x).
2. The clustering proxy (every seed 003 indicator: k-means, multicut, Delta), from the clean
   test set, against that mCE evaluation (target <= 5 %).

Model: the quick start's baseline (small CNN on the embedded digits, 540 test images).
Results: benchmarks/results/robustness_costs.json.

    python benchmarks/robustness_costs.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _best(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main() -> None:
    import torch

    from moo_compress.config import load_study_config
    from moo_compress.corruptions import STANDARD
    from moo_compress.evaluation import Evaluator, Measurements
    from moo_compress.objectives.proxy import clustering_scores
    from moo_compress.training import predict

    torch.set_num_threads(torch.get_num_threads())
    cfg = load_study_config(ROOT / "studies" / "quickstart.yaml")
    spec = cfg.evaluation_spec() | {"corruptions": list(STANDARD)}
    cache = ROOT / "benchmarks" / ".cache"
    ev = Evaluator(spec, cache, log=print)
    model = ev.baseline
    x, n = ev.dataset.x_test, len(ev.dataset.y_test)
    ev.corruption_errors(model)  # warm caches (page cache of the memory maps)

    clean_one, _ = _best(lambda: predict(model, x).argmax(1), 20)
    mce_eval, mce_times = _best(lambda: ev.corruption_errors(model), 5)

    def proxy():
        m = Measurements(ev, model, b"")
        clustering_scores(
            m.features.numpy(),
            ev.dataset.y_test,
            num_classes=ev.dataset.num_classes,
            seed=ev.seed,
            multicut_points=cfg.proxy.multicut_points,
        )

    proxy_cost, proxy_times = _best(proxy, 5)
    result = {
        "machine": f"{torch.get_num_threads()} torch threads, device {ev.dataset.x_test.shape}",
        "test_images": n,
        "corruptions": len(STANDARD),
        "severities": 5,
        "clean_eval_seconds": clean_one,
        "reference_75_clean_evals_seconds": 75 * clean_one,
        "mce_eval_seconds": mce_eval,
        "mce_eval_runs": mce_times,
        "mce_vs_75_clean": mce_eval / (75 * clean_one),
        "mce_target": "<= 1.15",
        "proxy_seconds": proxy_cost,
        "proxy_runs": proxy_times,
        "proxy_vs_mce": proxy_cost / mce_eval,
        "proxy_target": "<= 0.05",
        "multicut_points": cfg.proxy.multicut_points,
    }
    result["machine"] = f"{torch.get_num_threads()} torch threads, CPU"
    out = ROOT / "benchmarks" / "results" / "robustness_costs.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    import _provenance

    _provenance.record(out)
    print(
        f"mCE eval {mce_eval:.3f} s vs 75 clean evals {75 * clean_one:.3f} s: "
        f"{result['mce_vs_75_clean']:.3f}x (target <= 1.15)\n"
        f"proxy {proxy_cost * 1000:.1f} ms = {100 * result['proxy_vs_mce']:.2f} % of mCE eval "
        f"(target <= 5 %)\nwritten to {out.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
