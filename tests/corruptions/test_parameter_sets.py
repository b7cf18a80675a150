"""The published corruption parameter sets (``corruptions.parameters``): the rule ``auto``
picks by, the study file's setting, the set stored with a study, and glass blur's row-wise
copying for offsets above one pixel, value for value the original's sequential loop."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

from moo_compress.config import load_study_config
from moo_compress.corruptions import CORRUPTIONS
from moo_compress.corruptions.blur import glass_blur
from moo_compress.corruptions.parameters import (
    PARAMETER_SETS,
    auto_parameters,
    parameter_names,
    resolve_parameters,
)
from moo_compress.errors import ConfigError
from moo_compress.storage import CORRUPTION_PARAMETERS, record_corruption_parameters
from tests.conftest import write_study


def test_every_set_has_five_severities_of_every_corruption():
    for s in PARAMETER_SETS.values():
        assert set(s.values) == set(CORRUPTIONS.names()), s.name
        assert all(len(v) == 5 for v in s.values.values()), s.name
    # the two 64x64 scripts hold the same constants
    assert PARAMETER_SETS["tinyimagenet"].values == PARAMETER_SETS["imagenet64"].values
    assert parameter_names() == ["auto", "cifar", "tinyimagenet", "imagenet64", "imagenet"]


@pytest.mark.parametrize(
    ("size", "expected", "exact"),
    [
        ((32, 32), "cifar", True),
        ((28, 28), "cifar", False),
        ((45, 45), "cifar", False),
        ((46, 46), "tinyimagenet", False),
        ((64, 64), "tinyimagenet", True),
        ((96, 128), "tinyimagenet", False),  # the shorter side decides
        ((119, 119), "tinyimagenet", False),
        ((120, 120), "imagenet", False),
        ((128, 128), "imagenet", False),
        ((224, 224), "imagenet", True),
        ((512, 512), "imagenet", False),
    ],
)
def test_auto_picks_the_set_nearest_on_a_log_scale(size, expected, exact):
    assert auto_parameters(*size) == (expected, exact)
    name, note = resolve_parameters("auto", *size)
    assert name == expected and (note is None) == exact
    if not exact:
        assert note.startswith(f"note: no published corruption set is made for {size[0]}x")
        assert f"({expected}, made for" in note


def test_a_set_chosen_for_another_size_is_used_as_it_is_and_said():
    assert resolve_parameters("imagenet", 224, 224) == ("imagenet", None)
    name, note = resolve_parameters("cifar", 64, 64)
    assert name == "cifar"
    assert note == (
        "note: corruptions.parameters: cifar (CIFAR-10-C) is made for 32x32 images and is "
        "used on 64x64 ones as it is"
    )


def test_the_study_file_names_a_set_and_auto_keeps_old_fingerprints(tmp_path):
    path = write_study(tmp_path)
    plain = load_study_config(path)
    assert plain.corruption_parameters == "auto"
    assert "corruption_parameters" not in plain.evaluation_spec()
    path.write_text(
        path.read_text().replace(
            "severities: [1, 3, 5]}", "severities: [1, 3, 5], parameters: imagenet}"
        )
    )
    chosen = load_study_config(path)
    assert chosen.evaluation_spec()["corruption_parameters"] == "imagenet"
    assert chosen.fingerprint() != plain.fingerprint()
    path.write_text(path.read_text().replace("parameters: imagenet", "parameters: imagenet-c"))
    with pytest.raises(ConfigError, match=r"corruptions.parameters: must be one of \{auto, cifar"):
        load_study_config(path)


def test_the_set_is_stored_once_and_another_is_refused(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    study = optuna.create_study(directions=["maximize"])
    record_corruption_parameters(cfg, study, "tinyimagenet")
    assert study.user_attrs[CORRUPTION_PARAMETERS] == "tinyimagenet"
    record_corruption_parameters(cfg, study, "tinyimagenet")  # the same: fine
    with pytest.raises(ConfigError, match="was measured with the tinyimagenet corruption"):
        record_corruption_parameters(cfg, study, "imagenet")
    # a study searched before the sets existed was measured with CIFAR-10-C's
    old = optuna.create_study(directions=["maximize"])
    old.optimize(lambda t: 1.0, n_trials=1)
    with pytest.raises(ConfigError, match="was measured with the cifar corruption parameters"):
        record_corruption_parameters(cfg, old, "imagenet")
    record_corruption_parameters(cfg, old, "cifar")


def _sequential_copy(img: np.ndarray, offsets: np.ndarray, d: int) -> np.ndarray:
    """The original's loop: ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on NumPy views,
    which copies ``x[h', w']`` into ``x[h, w]``; offsets (iterations, rows, cols, 2, n)."""
    out = img.copy()
    n, h, w, _ = img.shape
    for k in range(n):
        x = out[k]
        for it in range(offsets.shape[0]):
            for a, hh in enumerate(range(h - d, d, -1)):
                for b, ww in enumerate(range(w - d, d, -1)):
                    dx, dy = offsets[it, a, b, 0, k], offsets[it, a, b, 1, k]
                    x[hh, ww], x[hh + dy, ww + dx] = x[hh + dy, ww + dx], x[hh, ww]
    return out


@pytest.mark.parametrize("severity", [4, 5])  # ImageNet-C: d = 3 and 4
def test_glass_blur_s_row_copying_is_the_original_s_sequential_loop(severity, monkeypatch):
    from moo_compress.corruptions import blur

    sigma, d, iterations = PARAMETER_SETS["imagenet"].values["glass_blur"][severity - 1]
    x = torch.rand(2, 3, 21, 26, generator=torch.Generator().manual_seed(severity))
    seen = {}
    real = blur.gaussian_filter

    def spy(img, s, **kw):  # keep what the copying works on and what it gives
        seen.setdefault("in", []).append(img.clone())
        return real(img, s, **kw)

    monkeypatch.setattr(blur, "gaussian_filter", spy)
    gen = torch.Generator().manual_seed(0)
    glass_blur(x, severity, gen, parameters="imagenet")
    before = blur.truncate_grey(real(x, sigma) * 255.0).permute(0, 2, 3, 1).numpy()
    after = (seen["in"][1] * 255.0).round().permute(0, 2, 3, 1).numpy()
    hs, ws = len(range(21 - d, d, -1)), len(range(26 - d, d, -1))
    offsets = torch.randint(
        -d, d, (iterations, hs, ws, 2, 2), generator=torch.Generator().manual_seed(0)
    ).numpy()
    assert np.array_equal(after, _sequential_copy(before, offsets, d))
