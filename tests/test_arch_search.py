"""Architecture as a search variable (its own baseline and reference per architecture), the
archive's architecture and technique shares, and the greyscale option."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import cli, write_study

ARCH_SPACE = """
variables:
  arch: {type: categorical, choices: [small_cnn, mlp]}
  technique: {type: categorical, choices: [original, clustering, QAT]}
  cluster_count: 8
  quant_bits: 4
"""


@pytest.fixture(scope="module")
def arch_study(tmp_path_factory, shared_cache):
    folder = tmp_path_factory.mktemp("arch")
    study = write_study(folder, driver="grid", n_trials=6, cache_dir=shared_cache)
    (folder / "space.yaml").write_text(ARCH_SPACE)
    res = cli("search", str(study), "--no-progress")
    assert res.returncode == 0, res.stderr
    return study


def _rows(study, *extra):
    out = cli("pareto", str(study), "--format", "json", "--all", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_each_architecture_is_compressed_from_its_own_baseline(arch_study, shared_cache):
    from moo_compress.config import load_study_config as load_study

    rows = _rows(arch_study)
    assert sorted((r["arch"], r["technique"]) for r in rows) == sorted(
        (a, t) for a in ("small_cnn", "mlp") for t in ("original", "clustering", "QAT")
    )
    cfg = load_study(arch_study)
    from moo_compress.evaluation import Evaluator

    ev = Evaluator(cfg.evaluation_spec(), cfg.cache_dir)
    for arch in ("small_cnn", "mlp"):
        assert ev.baseline_path_for(arch).is_file()
        ref = ev.reference_for(arch)
        original = next(r for r in rows if r["arch"] == arch and r["technique"] == "original")
        # the uncompressed model of each architecture is its own baseline: CR 1, mCE 100
        assert original["accuracy"] == pytest.approx(100 * ref.baseline_accuracy)
        assert original["cr"] == 1.0  # both artifacts measured without their metadata
        assert original["mce"] == pytest.approx(100.0)
    assert ev.baseline_path_for("mlp") != ev.baseline_path_for("small_cnn")
    mlp = {r["technique"]: r for r in rows if r["arch"] == "mlp"}
    cnn = {r["technique"]: r for r in rows if r["arch"] == "small_cnn"}
    assert mlp["original"]["accuracy"] != cnn["original"]["accuracy"]


def test_pareto_report_shows_architecture_and_technique_shares(arch_study):
    out = cli("pareto", str(arch_study))
    assert out.returncode == 0, out.stderr
    front = json.loads(cli("pareto", str(arch_study), "--format", "json").stdout)
    n = len(front)
    lines = {line.split(":")[0]: line for line in out.stdout.splitlines() if ":" in line}
    assert f"share of the archive ({n} models)" in out.stdout
    for arch in ("small_cnn", "mlp"):  # absent architectures are listed at 0 %
        count = sum(r["arch"] == arch for r in front)
        assert f"{arch} {count / n:.0%} ({count})" in lines["architectures"]
    for tech in {r["technique"] for r in front}:
        count = sum(r["technique"] == tech for r in front)
        assert f"{tech} {count / n:.0%} ({count})" in lines["techniques"]


def test_exported_model_is_remeasured_against_its_architecture(arch_study, tmp_path):
    out = tmp_path / "export"
    res = cli("export", str(arch_study), "--out", str(out), "--select", "cr>=8")
    assert res.returncode == 0, res.stderr
    archs = set()
    for model in sorted(p for p in out.iterdir() if p.is_dir()):
        config = json.loads((model / "config.json").read_text())
        arch = config["config"]["arch"]
        archs.add(arch)
        assert config["evaluation"]["arch"] == arch
        check = cli("evaluate", str(model), "--format", "json")
        assert check.returncode == 0, check.stderr
        got = json.loads(check.stdout)
        for name in ("accuracy", "cr", "mce"):
            assert got["measured"][name] == pytest.approx(got["recorded"][name], abs=1e-6)
    assert archs == {"small_cnn", "mlp"}


def test_per_layer_variables_need_a_fixed_architecture(tmp_path):
    from moo_compress.errors import ConfigError
    from moo_compress.space import load_space

    path = tmp_path / "space.yaml"
    path.write_text(
        "variables:\n  arch: {type: categorical, choices: [small_cnn, resnet18]}\n"
        "per_layer:\n  quant_bits: {type: categorical, choices: [4, 8]}\n"
    )
    with pytest.raises(ConfigError, match="per_layer"):
        load_space(path)
    path.write_text("variables:\n  arch: {type: categorical, choices: [small_cnn, lenet]}\n")
    with pytest.raises(ConfigError, match=r"variables\.arch\.choices\[1\].*lenet"):
        load_space(path)


def test_greyscale_uses_rec601_weights_in_three_channels():
    from moo_compress.data.base import greyscale

    px = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 90]]]], dtype=np.uint8)
    grey = greyscale(px)
    assert grey.dtype == np.uint8 and grey.shape == px.shape
    expected = [76, 150, 29, round(0.299 * 10 + 0.587 * 200 + 0.114 * 90)]
    assert grey[0, 0, :, 0].tolist() == expected
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert (greyscale(grey) == grey).all()


def test_greyscale_study_sees_grey_clean_and_corrupted_images(tmp_path, shared_cache):
    from moo_compress.config import load_study_config as load_study
    from moo_compress.evaluation import Evaluator

    study = write_study(tmp_path, cache_dir=shared_cache)
    study.write_text(
        study.read_text().replace(
            "dataset: {name: digits, test_fraction: 0.3}",
            "dataset: {name: digits, test_fraction: 0.3, greyscale: true}",
        )
    )
    cfg = load_study(study)
    assert cfg.dataset.greyscale
    ev = Evaluator(cfg.evaluation_spec(), cfg.cache_dir)
    x = ev.dataset.x_test
    assert (x[..., 0] == x[..., 2]).all()
    for arr in ev.corrupted.values():
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    study.write_text(study.read_text().replace("greyscale: true", "greyscale: grey"))
    res = cli("search", str(study), "--no-progress")
    assert res.returncode != 0 and "dataset.greyscale" in res.stderr
