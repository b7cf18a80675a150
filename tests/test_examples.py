"""The example scripts run as a user runs them (and resume when run again)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_compress_your_model_runs_exports_and_resumes(tmp_path):
    script = ROOT / "examples" / "compress_your_model.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*args):
        return subprocess.run(
            [sys.executable, str(script), "--quick", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    # study seed 0 proposes 70 % unstructured pruning without fine-tuning first, twice (no
    # model of this stand-in keeps its accuracy), then 20 % with 4 bits: 3 trials hold a
    # feasible model for any stand-in trained well enough
    res = run("--trials", "3", "--export", "out")
    assert res.returncode == 0, res.stderr
    assert "3 trials complete" in res.stdout
    models = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert models and all((m / "model.onnx").is_file() for m in models)
    res = run("--trials", "4")  # the same script again: the search goes on
    assert res.returncode == 0, res.stderr
    assert "4 trials complete" in res.stdout
