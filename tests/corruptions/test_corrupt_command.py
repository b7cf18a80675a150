"""`moo-compress corrupt --dataset`: a built-in dataset's options read from its entry of the
dataset table (the same kinds and ranges as in a study file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moo_compress.cli import main


def test_digits_test_split_in_the_c_layout(tmp_path):
    out = tmp_path / "C"
    args = ["corrupt", "--dataset", "digits", "--test-fraction", "0.2", "--out", str(out)]
    assert main([*args, "--corruptions", "fog"]) == 0
    meta = json.loads((out / "corrupt.json").read_text())
    assert meta["source"] == {"dataset": "digits", "n": 360, "test_fraction": 0.2}
    assert np.load(out / "fog.npy").shape == (5 * 360, 32, 32, 3)
    assert np.load(out / "labels.npy").shape == (5 * 360,)  # CIFAR-10-C: one per image


def test_a_parameter_set_is_recorded_and_one_for_another_size_is_said(tmp_path, capsys):
    out = tmp_path / "C"
    args = ["corrupt", "--dataset", "digits", "--out", str(out), "--corruptions", "contrast"]
    assert main([*args, "--parameters", "tinyimagenet"]) == 0
    captured = capsys.readouterr()
    assert "note: corruptions.parameters: tinyimagenet (Tiny-ImageNet-C) is made for 64x64" in (
        captured.err
    )
    assert "(tinyimagenet parameters)" in captured.out
    assert json.loads((out / "corrupt.json").read_text())["parameters"] == "tinyimagenet"
    # CIFAR-10-C's contrast 0.75 vs Tiny-ImageNet-C's 0.4 at severity 1: a stronger change
    plain = tmp_path / "P"
    assert (
        main(["corrupt", "--dataset", "digits", "--out", str(plain), "--corruptions", "contrast"])
        == 0
    )
    assert "parameters" not in json.loads((plain / "corrupt.json").read_text())
    clean = np.load(out / "contrast.npy")[:540].astype(float)
    cifar = np.load(plain / "contrast.npy")[:540].astype(float)
    assert clean.std() < cifar.std()
    # another set on the same folder is another command: refused
    assert main([*args, "--parameters", "imagenet"]) == 2


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["--dataset", "digits", "--test-fraction", "0.95"],
            "--test-fraction: must be a number in [0.05, 0.9]. Got 0.95 instead.",
        ),
        (["--dataset", "cifar100"], "--root: is required with --dataset cifar100."),
        (
            ["--dataset", "cifar10", "--root", "nowhere"],
            "--root: expected the extracted official cifar10 archive",
        ),
        (
            ["--dataset", "coco"],
            "--dataset: must be one of {digits, cifar10, cifar100}. Got 'coco' instead.",
        ),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, args, expected):
    assert main(["corrupt", *args, "--out", str(tmp_path / "C")]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "C").exists()
