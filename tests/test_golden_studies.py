"""Golden values of every study in ``studies/``: restructuring the package must not change
them, so existing studies resume (same fingerprint, same configuration keys) and find their
caches (same baseline, corrupted-set and reference keys).

Regenerate only for a change that is meant to alter them (and say so in the commit):
``python -m tests.test_golden_studies``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from moo_compress.corruptions.parameters import resolve_parameters
from tests.conftest import ROOT

GOLDEN = Path(__file__).parent / "golden" / "studies.json"
STUDIES = sorted(p.name for p in (ROOT / "studies").glob("*.yaml"))
NUM_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "shapes": 4}


def _evaluator(cfg, split: str):
    """An evaluator with just what its cache keys read (no data loaded, nothing trained)."""
    from moo_compress.evaluation import Evaluator

    spec = cfg.evaluation_spec()
    if spec.get("task") == "detection":
        from moo_compress.evaluation.detection import DetectionEvaluator as Evaluator
    ev = object.__new__(Evaluator)
    ev.spec, ev.seed, ev.cache_dir, ev.split = cfg.evaluation(), cfg.seed, Path("<cache>"), split
    ev.corruptions, ev.severities = list(spec["corruptions"]), list(spec["severities"])
    ev.dataset = SimpleNamespace(num_classes=NUM_CLASSES[spec["dataset"]["name"]])
    # the corruption parameter set of the images' size (the built-in datasets' sizes)
    size = spec["dataset"]["options"].get("image_size", 32)
    ev.corruption_parameters = resolve_parameters(cfg.corruption_parameters, size, size)[0]
    return ev


def golden_values(study: str) -> dict:
    """Everything a resumed study and its caches are found by."""
    import optuna

    from moo_compress.config import load_study_config
    from moo_compress.corruptions.suite import IMPLEMENTATION_VERSION

    cfg = load_study_config(ROOT / "studies" / study)
    space = cfg.space
    if space.per_layer:
        space = space.bind([])
    sampler = optuna.samplers.RandomSampler(seed=0)
    trials = optuna.create_study(sampler=sampler)
    keys = [space.config_key(space.suggest(trials.ask())) for _ in range(20)]
    out = {
        "fingerprint": cfg.fingerprint(),
        "evaluation_spec_sha256": hashlib.sha256(
            json.dumps(cfg.evaluation_spec(), sort_keys=True).encode()
        ).hexdigest(),
        "config_keys": keys,
        "splits": {},
    }
    for split in ("validation", "test"):
        ev = _evaluator(cfg, split)
        data_key = ev.data_key(task="detection") if cfg.task == "detection" else ev.data_key()
        extra = (
            f"|parameters={ev.corruption_parameters}" if ev.corruption_parameters != "cifar" else ""
        )
        corrupted = hashlib.sha256(
            f"{data_key}|{ev.seed}|v{IMPLEMENTATION_VERSION}{extra}".encode()
        ).hexdigest()[:16]
        out["splits"][split] = {
            "baselines": {a: ev.baseline_path_for(a).name for a in space.archs(cfg.arch)},
            "corrupted_set": corrupted,
            "reference": ev._reference_key("baseline"),
        }
    return out


@pytest.mark.parametrize("study", STUDIES)
def test_study_identities_and_cache_keys_are_unchanged(study):
    expected = json.loads(GOLDEN.read_text())
    assert study in expected, (
        f"{study} has no golden values: run python -m tests.test_golden_studies"
    )
    assert golden_values(study) == expected[study]


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({s: golden_values(s) for s in STUDIES}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
