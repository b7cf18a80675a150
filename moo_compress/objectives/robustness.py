"""Corruption robustness: mCE, relative mCE, mean corruption accuracy, robustness ratio.

With errors E = 1 - accuracy per corruption c and severity s, and a reference model (the
study's uncompressed baseline by default, or another stored model):

- CE_c = sum_s E(model, c, s) / sum_s E(ref, c, s);  mCE = 100 * mean over standard c.
- relative CE_c = sum_s (E(model, c, s) - E_clean(model)) / sum_s (E(ref, c, s) - E_clean(ref)).
- mean corruption accuracy = 100 * mean over all the study's corruptions and severities.
- robustness ratio = ACC_corrupted / ACC_clean (seed 003, eq. 6-7).

mCE and relative mCE average over the 15 standard corruptions the study evaluates; the
extra ones get their CE in the details. A corruption on which the reference's summed error
(or, for relative CE, its summed error *above its clean error*) is below one misclassified
image per severity has no meaningful denominator: the ratio would be dominated by a single
image or change sign. Such a corruption is **excluded** from the mean and listed under
``excluded`` in the trial's details, so the reference itself scores exactly 100 on every
corruption that is kept, and 100 overall. If every corruption is excluded the objective is
undefined: the trial records the reason instead of a value (and fails if the study
optimizes it).
"""

from __future__ import annotations

import numpy as np

from moo_compress.corruptions import STANDARD
from moo_compress.objectives.base import Measurements, ObjectiveResult, UndefinedObjective

__all__ = [
    "corruption_errors_to_ce",
    "mean_corruption_accuracy",
    "mean_corruption_error",
    "relative_mean_corruption_error",
    "robustness_ratio",
]


def _ratios(
    num: dict[str, float], den: dict[str, float], floor: float
) -> tuple[dict[str, float], list[str]]:
    """``num / den`` per corruption; corruptions whose denominator is below ``floor`` are
    left out and returned as the second element."""
    out, excluded = {}, []
    for name, value in num.items():
        d = den[name]
        if d < floor - 1e-12:
            excluded.append(name)
            continue
        out[name] = value / d
    return out, excluded


def corruption_errors_to_ce(
    errors: dict[str, list[float]], ref_errors: dict[str, list[float]], n_test: int
) -> tuple[dict[str, float], list[str]]:
    """CE per corruption, and the corruptions left out because the reference makes (nearly)
    no error on them.

    Args:
        errors: Top-1 error per corruption and severity of the model.
        ref_errors: The same for the reference.
        n_test: Number of evaluated images (the floor is one image per severity).

    Returns:
        ``(CE per corruption kept, corruptions excluded)``.
    """
    num = {k: float(np.sum(v)) for k, v in errors.items()}
    den = {k: float(np.sum(ref_errors[k])) for k in errors}
    n_sev = len(next(iter(errors.values())))
    return _ratios(num, den, n_sev / n_test)


def _split(ce: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    std = {k: v for k, v in ce.items() if k in STANDARD}
    return std, {k: v for k, v in ce.items() if k not in STANDARD}


def _mean_of_standard(std: dict[str, float], excluded: list[str], what: str) -> float:
    if not std:
        raise UndefinedObjective(
            f"{what} is undefined: the reference's error on every standard corruption "
            f"is below one image per severity (excluded: {', '.join(excluded) or 'none evaluated'})"
        )
    return 100.0 * float(np.mean(list(std.values())))


def mean_corruption_error(m: Measurements) -> ObjectiveResult:
    """mCE (%) against the reference (see the module docstring).

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``corruption_errors``, ``reference``, ``n_test`` and ``severities``).

    Returns:
        The mCE, with CE per standard and extra corruption, the errors, the mean error per
        severity, the reference's name and the excluded corruptions as details.

    Raises:
        UndefinedObjective: Every standard corruption is excluded.
    """
    errors = m.corruption_errors
    ce, excluded = corruption_errors_to_ce(errors, m.reference.corruption_errors, m.n_test)
    std, extra = _split(ce)
    per_severity = {
        str(s): float(np.mean([errors[c][i] for c in errors if c in STANDARD]))
        for i, s in enumerate(m.severities)
    }
    return ObjectiveResult(
        _mean_of_standard(std, excluded, "mce"),
        {
            "ce": std,
            "ce_extra": extra,
            "errors": errors,
            "mean_error_per_severity": per_severity,
            "reference": m.reference.name,
            "excluded": excluded,
        },
    )


def relative_mean_corruption_error(m: Measurements) -> ObjectiveResult:
    """Relative mCE (%): error above the model's own clean error, against the reference's.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``corruption_errors``, ``clean_accuracy``, ``reference``, ``n_test`` and
            ``severities``).

    Returns:
        The relative mCE, with relative CE per standard and extra corruption and the
        excluded corruptions as details.

    Raises:
        UndefinedObjective: Every standard corruption is excluded.
    """
    errors = m.corruption_errors
    clean = 1.0 - m.clean_accuracy
    ref_clean = 1.0 - m.reference.accuracy
    num = {k: float(np.sum(np.asarray(v) - clean)) for k, v in errors.items()}
    den = {
        k: float(np.sum(np.asarray(m.reference.corruption_errors[k]) - ref_clean)) for k in errors
    }
    rel, excluded = _ratios(num, den, len(m.severities) / m.n_test)
    std, extra = _split(rel)
    return ObjectiveResult(
        _mean_of_standard(std, excluded, "relative_mce"),
        {"relative_ce": std, "relative_ce_extra": extra, "excluded": excluded},
    )


def mean_corruption_accuracy(m: Measurements) -> ObjectiveResult:
    """Accuracy (%) averaged over the study's corruptions and severities.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``corruption_errors``).

    Returns:
        The mean, with the accuracy per corruption as details.
    """
    errors = m.corruption_errors
    per_corruption = {k: 100.0 * (1.0 - float(np.mean(v))) for k, v in errors.items()}
    return ObjectiveResult(
        float(np.mean(list(per_corruption.values()))), {"accuracy": per_corruption}
    )


def robustness_ratio(m: Measurements) -> ObjectiveResult:
    """Corrupted accuracy (mean over corruptions and severities) / clean accuracy.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses
            ``corruption_errors`` and ``clean_accuracy``).

    Raises:
        UndefinedObjective: The model's clean accuracy is 0.
    """
    acc_c = 1.0 - float(np.mean([np.mean(v) for v in m.corruption_errors.values()]))
    if m.clean_accuracy <= 0:
        raise UndefinedObjective("robustness_ratio is undefined for a model with 0% clean accuracy")
    return ObjectiveResult(acc_c / m.clean_accuracy, {"corrupted_accuracy": acc_c})
