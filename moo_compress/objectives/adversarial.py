"""Adversarial robustness (L-infinity, pixel space): FGSM and PGD accuracy, robust instances.

Settings come from the study's ``adversarial`` section (seed 001 defaults). Robust instances
(seed 002) are the test inputs with g(x_adv) = g(x) = y, x_adv from FGSM at the same eps.
"""

from __future__ import annotations

from moo_compress.adversarial import robust_instances as _robust_share
from moo_compress.objectives.base import Measurements, ObjectiveResult

__all__ = ["fgsm_accuracy", "pgd_accuracy", "robust_instances"]


def fgsm_accuracy(m: Measurements) -> ObjectiveResult:
    """Accuracy (%) on the attacked test images after an FGSM attack.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``attack("fgsm")``
            and the ``adversarial`` settings).

    Returns:
        The accuracy, with ``eps`` and the number of attacked images ``n`` as details.
    """
    clean, adv, y = m.attack("fgsm")
    return ObjectiveResult(
        100.0 * float((adv == y).mean()), {"eps": m.adversarial["eps"], "n": len(y)}
    )


def pgd_accuracy(m: Measurements) -> ObjectiveResult:
    """Accuracy (%) on the attacked test images after a PGD attack.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``attack("pgd")``
            and the ``adversarial`` settings).

    Returns:
        The accuracy, with the attack's ``eps``, ``step``, ``steps``, ``random_start`` and the
        number of attacked images ``n`` as details.
    """
    clean, adv, y = m.attack("pgd")
    cfg = m.adversarial
    return ObjectiveResult(
        100.0 * float((adv == y).mean()),
        {k: cfg[k] for k in ("eps", "step", "steps", "random_start")} | {"n": len(y)},
    )


def robust_instances(m: Measurements) -> ObjectiveResult:
    """Share (%) of attacked test images with g(x_adv) = g(x) = y, x_adv from FGSM.

    When PGD has already been run on this model (for ``pgd_accuracy``), the share under
    PGD is added to the details as ``pgd_robust_instances``.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``attack`` and
            ``attacks_done``).
    """
    clean, adv, y = m.attack("fgsm")
    details = {"attack": "fgsm", "eps": m.adversarial["eps"], "n": len(y)}
    if "pgd" in m.attacks_done:
        c2, a2, y2 = m.attack("pgd")
        details["pgd_robust_instances"] = 100.0 * _robust_share(c2, a2, y2)
    return ObjectiveResult(100.0 * _robust_share(clean, adv, y), details)
