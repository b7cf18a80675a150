"""Robustness objectives on known numbers, and the attacks on models with known gradients."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from moo_compress.adversarial import attack_predictions, fgsm, pgd, robust_instances
from moo_compress.evaluation import Reference
from moo_compress.objectives.robustness import (
    mean_corruption_accuracy,
    mean_corruption_error,
    relative_mean_corruption_error,
    robustness_ratio,
)


def _m(errors, ref_errors, clean_acc=0.9, ref_acc=0.95):
    ref = Reference(0.95, 1000, ref_errors, accuracy=ref_acc)
    return SimpleNamespace(
        corruption_errors=errors,
        reference=ref,
        n_test=1000,
        severities=[1, 2],
        clean_accuracy=clean_acc,
    )


def test_mce_relative_mce_and_ratio_known_answers():
    errors = {"fog": [0.2, 0.4], "contrast": [0.1, 0.1], "spatter": [0.5, 0.5]}
    ref = {"fog": [0.1, 0.2], "contrast": [0.1, 0.1], "spatter": [0.25, 0.25]}
    m = _m(errors, ref)
    r = mean_corruption_error(m)
    # CE_fog = 0.6 / 0.3 = 2, CE_contrast = 1; spatter is an extra corruption: not in the mean
    assert r.value == pytest.approx(150.0)
    assert r.details["ce_extra"] == {"spatter": pytest.approx(2.0)}
    rel = relative_mean_corruption_error(m)
    # fog: (0.2-0.1 + 0.4-0.1) / (0.1-0.05 + 0.2-0.05) = 0.4 / 0.2 = 2
    # contrast: (0 + 0) / (0.05 + 0.05) = 0
    assert rel.value == pytest.approx(100.0)
    acc = mean_corruption_accuracy(m)
    assert acc.value == pytest.approx(100 * (1 - np.mean([0.3, 0.1, 0.5])))
    ratio = robustness_ratio(m)
    assert ratio.value == pytest.approx((1 - np.mean([0.3, 0.1, 0.5])) / 0.9)


def test_reference_without_errors_is_excluded_and_reported():
    m = _m(
        {"fog": [0.01, 0.02], "contrast": [0.2, 0.2]}, {"fog": [0.0, 0.0], "contrast": [0.1, 0.1]}
    )
    r = mean_corruption_error(m)
    assert r.details["excluded"] == ["fog"]
    assert "fog" not in r.details["ce"]
    assert r.value == pytest.approx(200.0)


def test_the_reference_scores_exactly_100_on_every_kept_corruption():
    """Before: a reference whose error above clean is ~0 on some corruptions scored 73.33
    (seed000_catalog.csv) or negative; now those corruptions are excluded and it is 100."""
    rng = np.random.default_rng(0)
    names = ["fog", "contrast", "brightness", "gaussian_noise", "pixelate", "jpeg_compression"]
    ref_acc = 0.97
    ref = {n: list(np.round(rng.uniform(0.0, 0.2, 5), 3)) for n in names}
    ref["brightness"] = [0.03] * 5  # exactly the clean error: relative denominator 0
    ref["pixelate"] = [0.029, 0.031, 0.03, 0.03, 0.03]  # sums to 5 x clean error
    ref["contrast"] = [0.0] * 5  # no error at all: CE denominator 0
    m = _m(ref, ref, clean_acc=ref_acc, ref_acc=ref_acc)
    mce = mean_corruption_error(m)
    rel = relative_mean_corruption_error(m)
    assert mce.value == 100.0 and set(mce.details["ce"].values()) == {1.0}
    assert mce.details["excluded"] == ["contrast"]
    assert rel.value == 100.0 and set(rel.details["relative_ce"].values()) == {1.0}
    assert sorted(rel.details["excluded"]) == ["brightness", "contrast", "pixelate"]


def test_relative_mce_never_negative_from_a_near_zero_reference():
    """Before: the floor replaced the denominator but kept the numerator's sign (-11.7)."""
    m = _m(
        {"fog": [0.05, 0.06], "snow": [0.3, 0.3]},
        {"fog": [0.05, 0.05], "snow": [0.2, 0.2]},
        clean_acc=0.9,
        ref_acc=0.95,
    )
    rel = relative_mean_corruption_error(m)
    assert rel.details["excluded"] == ["fog"]
    # snow: (0.2 + 0.2) / (0.15 + 0.15)
    assert rel.value == pytest.approx(100 * 0.4 / 0.3)


def test_every_corruption_excluded_is_an_error():
    m = _m({"fog": [0.1, 0.1]}, {"fog": [0.0, 0.0]})
    with pytest.raises(ValueError, match="undefined"):
        mean_corruption_error(m)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0]]))

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_fgsm_moves_along_the_gradient_sign_and_pgd_stays_in_the_ball():
    model = Linear().eval()
    x = torch.full((1, 1, 2, 2), 0.5)
    y = torch.tensor([0])
    adv = fgsm(model, x, y, 0.1)
    # increasing the loss of class 0 lowers pixel 0 and raises pixel 1; others have no gradient
    assert torch.allclose(adv.flatten(), torch.tensor([0.4, 0.6, 0.5, 0.5]))
    x2 = torch.rand(8, 1, 2, 2)
    y2 = torch.randint(0, 2, (8,))
    adv2 = pgd(
        model, x2, y2, eps=0.05, step=0.02, steps=5, random_start=True, gen=torch.Generator()
    )
    assert float((adv2 - x2).abs().max()) <= 0.05 + 1e-6
    assert float(adv2.min()) >= 0 and float(adv2.max()) <= 1
    assert all(p.grad is None for p in model.parameters())


def test_attacks_lower_accuracy_of_a_trained_model_and_robust_instances():
    from moo_compress.config import TrainConfig
    from moo_compress.data.digits import load_digits
    from moo_compress.models import ARCHITECTURES
    from moo_compress.training import train

    ds = load_digits(seed=0, test_fraction=0.3)
    torch.manual_seed(0)
    model = ARCHITECTURES.get("small_cnn")(num_classes=10, width=0.5)
    train(model, ds.x_train, ds.y_train, TrainConfig(3, 64, 0.05, 0.9, 5e-4), epochs=3, seed=0)
    x, y = ds.x_test[:200], ds.y_test[:200]
    clean, adv_f = attack_predictions(model, x, y, attack="fgsm", eps=0.05)
    _, adv_p = attack_predictions(model, x, y, attack="pgd", eps=0.05, step=0.02, steps=5)
    acc_clean, acc_f, acc_p = ((p == y).mean() for p in (clean, adv_f, adv_p))
    assert acc_clean > 0.9 and acc_p <= acc_f + 1e-9 and acc_f < acc_clean
    assert robust_instances(clean, adv_f, y) <= acc_f + 1e-9


def test_robust_instances_and_fgsm_accuracy_known_answers():
    """They are equal unless the attack turns a wrong prediction right (then only FGSM
    accuracy counts it): a near-identity on well-trained models, not the same measure."""
    y = np.array([0, 0, 1, 1, 2])
    clean = np.array([0, 1, 1, 1, 0])  # images 1 and 4 are wrong before the attack
    adv = np.array([0, 0, 2, 1, 2])  # the attack flips image 2, "fixes" images 1 and 4
    assert robust_instances(clean, adv, y) == pytest.approx(2 / 5)  # images 0 and 3
    assert float((adv == y).mean()) == pytest.approx(4 / 5)  # FGSM accuracy
    never_fixed = np.array([0, 2, 2, 1, 0])
    assert robust_instances(clean, never_fixed, y) == float((never_fixed == y).mean())
