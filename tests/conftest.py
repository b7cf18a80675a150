from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MOO_COMPRESS_DEVICE", "cpu")

TINY_SPACE = """
variables:
  prune_ratio: {type: float, low: 0.0, high: 0.9, step: 0.1}
  prune_granularity: {type: categorical, choices: [unstructured, filter]}
  cluster_count: {type: categorical, choices: [0, 8, 16]}
  quant_bits: {type: categorical, choices: [4, 8, 32]}
  finetune_epochs: {type: int, low: 0, high: 1}
"""


def write_study(
    folder: Path,
    *,
    name: str = "tiny",
    driver: str = "pymoo-nsga2",
    n_trials: int = 8,
    cache_dir: Path | None = None,
    extra: str = "",
) -> Path:
    """A small, fast study (tiny baseline, two corruptions) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(TINY_SPACE)
    driver_opts = (
        "population_size: 4"
        if "nsga2" in driver
        else ("n_startup_trials: 3" if driver == "optuna-tpe" else "")
    )
    text = textwrap.dedent(
        f"""
        study: {{name: {name}, seed: 3}}
        dataset: {{name: digits, test_fraction: 0.3}}
        model: {{arch: small_cnn, width: 0.5}}
        baseline: {{epochs: 4, lr: 0.05}}
        search_space: space.yaml
        objectives:
          - {{name: accuracy, direction: maximize}}
          - {{name: cr, direction: maximize}}
          - {{name: mce, direction: minimize}}
          - {{name: proxy_purity, direction: maximize}}
        driver: {{name: {driver}{", " + driver_opts if driver_opts else ""}}}
        budget: {{n_trials: {n_trials}}}
        corruptions: {{names: [gaussian_noise, contrast], severities: [1, 3, 5]}}
        """
    )
    if cache_dir is not None:
        text += f"cache_dir: {cache_dir}\n"
    text += extra
    path = folder / "study.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def cli(*args: str, cwd: Path | None = None, timeout: float = 600):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "moo_compress", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


class ClaimsOnly:
    """What a driver's claim uses of its session (``claim`` and ``trials``), over one Optuna
    study handle: a stand-in for one worker process in the claim tests."""

    def __init__(self, study) -> None:
        self.study = study

    def trials(self, states=None):
        return self.study.get_trials(deepcopy=False, states=states)

    def claim(self, trial, name: str, **kwargs):
        from moo_compress.drivers.base import claim_evaluation

        return claim_evaluation(self.study, trial, name, **kwargs)
