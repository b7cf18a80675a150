"""Every committed benchmark result says where it came from (issue 22): a sidecar
``<file>.meta.json`` (one per folder for a report) with the commit, the exact command, the
date and the machine's cores; the commit exists in the repository's history when the tests
run in a git checkout. ``benchmarks/_provenance.py`` writes them."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest

from tests.conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"
SUFFIX = ".meta.json"
RESULT_FILES = sorted(
    p.name for p in RESULTS.iterdir() if not p.name.endswith(SUFFIX) and not p.name.startswith(".")
)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


IN_GIT = _git("rev-parse", "--git-dir").returncode == 0


def test_there_are_results():
    assert len(RESULT_FILES) > 10


@pytest.mark.parametrize("name", RESULT_FILES)
def test_every_result_records_its_provenance(name):
    side = RESULTS / (name + SUFFIX)
    assert side.is_file(), f"benchmarks/results/{name} has no {name}{SUFFIX}"
    meta = json.loads(side.read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"]), meta["commit"]
    assert meta["command"].strip() and isinstance(meta["command"], str)
    assert dt.datetime.fromisoformat(meta["date"]).tzinfo is not None
    assert isinstance(meta["machine"]["cores"], int) and meta["machine"]["cores"] >= 1
    assert isinstance(meta["recorded_after"], bool)
    assert meta["file"] == f"benchmarks/results/{name}"
    if IN_GIT:
        found = _git("cat-file", "-e", f"{meta['commit']}^{{commit}}")
        assert found.returncode == 0, f"{name}: commit {meta['commit']} is not in this repository"
        ancestor = _git("merge-base", "--is-ancestor", meta["commit"], "HEAD")
        assert ancestor.returncode == 0, f"{name}: commit {meta['commit']} is not in git log"


def test_no_sidecar_without_its_result():
    for side in RESULTS.glob(f"*{SUFFIX}"):
        assert (RESULTS / side.name[: -len(SUFFIX)]).exists(), f"{side.name}: its result is gone"
