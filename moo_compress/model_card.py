"""A Markdown model card for one exported model."""

from __future__ import annotations

from typing import Any

from moo_compress.objectives import OBJECTIVE_INFO

__all__ = ["front_ranks", "render"]


def front_ranks(
    name: str, front: dict[str, dict[str, float]], directions: dict[str, str]
) -> dict[str, int]:
    """Rank (1 = best, ties share the rank) of model ``name`` among ``front`` per objective.

    Args:
        name: The model whose ranks are wanted (a key of ``front``).
        front: Objective values of every exported model, by name.
        directions: Direction of each objective; an objective not named here takes its
            default direction.

    Returns:
        Objective -> rank, for every objective the model has a value for.
    """
    ranks = {}
    mine = front[name]
    for obj, value in mine.items():
        sign = 1 if directions.get(obj, OBJECTIVE_INFO[obj].default_direction) == "maximize" else -1
        ranks[obj] = 1 + sum(
            1 for other in front.values() if obj in other and sign * other[obj] > sign * value
        )
    return ranks


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items()) or "-"
    return str(v)


def render(
    *,
    name: str,
    study: str,
    config: dict[str, Any],
    objectives: dict[str, float],
    test: dict[str, float],
    details: dict[str, Any],
    front: dict[str, dict[str, float]],
    directions: dict[str, str],
    optimized: list[str],
    deployment: dict[str, Any],
    files: dict[str, str],
) -> str:
    """The card's Markdown text.

    Args:
        name: Model directory name (``trial-NNNNN``).
        study: Study name.
        config: The trial's full configuration.
        objectives: Recorded objective values (validation split: what the search saw).
        test: The same objectives measured on the test split at export.
        details: Recorded objective details (per-corruption CE, sizes).
        front: Objective values of every exported model, by name.
        directions: Direction of each objective the study optimized.
        optimized: The study's objectives.
        deployment: ``metrics.json``'s ``deployment`` section.
        files: File name -> SHA-256 of the other files in the directory.
    """
    ranks = front_ranks(name, front, directions)
    n = len(front)
    best = [o for o in optimized if ranks.get(o) == 1]
    deploy_file = deployment["file"]
    lines = [
        f"# {name}: {config.get('technique', '?')} (study `{study}`)",
        "",
        f"One of {n} exported Pareto-optimal models. "
        + (
            f"Best of them on {', '.join(f'`{o}`' for o in best)}."
            if best
            else "Not the best on any single objective: a trade-off between them."
        ),
        "",
        "## Load and run",
        "",
        "```python",
        "import onnxruntime as ort  # images: float32 (N, C, H, W) in [0, 1]",
        f'session = ort.InferenceSession("{name}/{deploy_file}")',
        'logits = session.run(["logits"], {"input": images})[0]',
        "```",
        "",
        f"`{deploy_file}` is what the search measured"
        + (" (the real int8 model)" if deploy_file.endswith("int8.onnx") else "")
        + "; `model.mcz` is the packed artifact "
        "(`moo_compress.artifact.load_model`, no pickle), `moo-compress evaluate` re-measures it.",
        "",
        "## Objectives",
        "",
        "The search selected this model on the validation split (held out from the training "
        "data); the test split was measured once, at export. Their gap is the optimism of "
        "selecting on the validation figures.",
        "",
        "| objective | validation | test | unit | rank among the exported front (validation) |",
        "|---|---|---|---|---|",
    ]
    for obj, value in objectives.items():
        info = OBJECTIVE_INFO.get(obj)
        mark = " (optimized)" if obj in optimized else ""
        t = test.get(obj)
        t_text = "-" if t is None else f"{t:.4g}"
        lines.append(
            f"| `{obj}`{mark} | {value:.4g} | {t_text} | {info.unit if info else ''} | {ranks.get(obj, '-')} of {n} |"
        )
    lines += [
        "",
        "## Deployment checks",
        "",
        f"- ONNX opset {deployment['opset']}; ONNX Runtime vs PyTorch on "
        f"{deployment['verification']['onnx']['images']} test images: max |logit difference| "
        f"{deployment['verification']['onnx']['max_abs_logit_diff']:.3g}, same class for "
        f"{100 * deployment['verification']['onnx']['class_agreement']:.2f} %.",
    ]
    if "int8" in deployment["verification"]:
        v = deployment["verification"]["int8"]
        q = "accuracy" if "accuracy" in v else "map"
        lines.append(
            f"- int8 file: {q} {v[q]:.4g} % (recorded {v[f'recorded_{q}']:.4g} %), "
            f"same top output as its float model for {100 * v['class_agreement_with_float']:.2f} %."
        )
    cr = deployment["cr"]
    lat = deployment["latency"]
    lines += [
        f"- Compression ratio: {cr['parameter_bits']:.3g}x in parameter bits, "
        f"{cr['deflate']:.3g}x in DEFLATE-zipped artifact size (seed 000's CR), "
        f"{cr['onnx_file']:.3g}x in ONNX file size.",
        f"- Latency in ONNX Runtime: {lat['median_ms']:.3g} ms median per batch of "
        f"{lat['batch_size']} ({lat['repeats']} runs after {lat['warmup']} warm-ups).",
        "",
        "## Configuration",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {_fmt(v)} |" for k, v in config.items()]
    mce = details.get("mce")
    if mce:
        severities = len(next(iter(mce["errors"].values())))
        lines += [
            "",
            f"## Corruption errors (reference: {mce.get('reference', 'baseline')})",
            "",
            "| corruption | CE | "
            + " | ".join(f"error s{i + 1} (%)" for i in range(severities))
            + " |",
            "|---" * (severities + 2) + "|",
        ]
        ce = {**mce.get("ce", {}), **mce.get("ce_extra", {})}
        for corruption, errs in mce["errors"].items():
            extra = " (extra)" if corruption in mce.get("ce_extra", {}) else ""
            lines.append(
                f"| {corruption}{extra} | {100 * ce.get(corruption, float('nan')):.1f} | "
                + " | ".join(f"{100 * e:.1f}" for e in errs)
                + " |"
            )
    maps = (details.get("map_corrupted") or {}).get("map_per_corruption")
    if maps:
        severities = details["map_corrupted"]["severities"]
        lines += [
            "",
            "## mAP under corruptions (%)",
            "",
            "| corruption | " + " | ".join(f"s{s}" for s in severities) + " |",
            "|---" * (len(severities) + 1) + "|",
        ]
        for corruption, values in maps.items():
            lines.append(f"| {corruption} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    lines += ["", "## Files", "", "| file | SHA-256 |", "|---|---|"]
    lines += [f"| `{f}` | `{h}` |" for f, h in files.items()]
    return "\n".join(lines) + "\n"
