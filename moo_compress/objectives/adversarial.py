"""Adversarial robustness (L-infinity, pixel space): FGSM and PGD accuracy, robust instances.

Settings come from the study's ``adversarial`` section (seed 001 defaults). Robust instances
(seed 002) are the test inputs with g(x_adv) = g(x) = y, x_adv from FGSM at the same eps.
"""

from __future__ import annotations

from moo_compress.adversarial import robust_instances as _robust_share
from moo_compress.objectives.base import ObjectiveResult


def fgsm_accuracy(m) -> ObjectiveResult:
    clean, adv, y = m.attack("fgsm")
    return ObjectiveResult(
        100.0 * float((adv == y).mean()), {"eps": m.adversarial["eps"], "n": len(y)}
    )


def pgd_accuracy(m) -> ObjectiveResult:
    clean, adv, y = m.attack("pgd")
    cfg = m.adversarial
    return ObjectiveResult(
        100.0 * float((adv == y).mean()),
        {k: cfg[k] for k in ("eps", "step", "steps", "random_start")} | {"n": len(y)},
    )


def robust_instances(m) -> ObjectiveResult:
    clean, adv, y = m.attack("fgsm")
    details = {"attack": "fgsm", "eps": m.adversarial["eps"], "n": len(y)}
    if "pgd" in m.attacks_done:
        c2, a2, y2 = m.attack("pgd")
        details["pgd_robust_instances"] = 100.0 * _robust_share(c2, a2, y2)
    return ObjectiveResult(100.0 * _robust_share(clean, adv, y), details)
