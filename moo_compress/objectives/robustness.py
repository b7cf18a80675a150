"""Corruption robustness: mCE, relative mCE, mean corruption accuracy, robustness ratio.

With errors E = 1 - accuracy per corruption c and severity s, and a reference model (the
study's uncompressed baseline by default, or another stored model):

- CE_c = sum_s E(model, c, s) / sum_s E(ref, c, s);  mCE = 100 * mean over standard c.
- relative CE_c = sum_s (E(model, c, s) - E_clean(model)) / sum_s (E(ref, c, s) - E_clean(ref)).
- mean corruption accuracy = 100 * mean over all the study's corruptions and severities.
- robustness ratio = ACC_corrupted / ACC_clean (seed 003, eq. 6-7).

mCE and relative mCE average over the 15 standard corruptions the study evaluates; the
extra ones get their CE in the details. If the reference's denominator is (nearly) zero
(it makes no error, or no more error than on clean data - possible on easy data), it is
floored at one misclassified image per severity, so CE stays finite; floored corruptions are
listed in the details.
"""

from __future__ import annotations

import numpy as np

from moo_compress.corruptions import STANDARD
from moo_compress.objectives.base import ObjectiveResult


def _ratios(num: dict[str, float], den: dict[str, float], floor: float):
    out, floored = {}, []
    for name, value in num.items():
        d = den[name]
        if d < floor:
            floored.append(name)
            d = floor
        out[name] = value / d
    return out, floored


def corruption_errors_to_ce(
    errors: dict[str, list[float]], ref_errors: dict[str, list[float]], n_test: int
) -> tuple[dict[str, float], list[str]]:
    num = {k: float(np.sum(v)) for k, v in errors.items()}
    den = {k: float(np.sum(ref_errors[k])) for k in errors}
    n_sev = len(next(iter(errors.values())))
    return _ratios(num, den, n_sev / n_test)


def _split(ce: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    std = {k: v for k, v in ce.items() if k in STANDARD}
    return std, {k: v for k, v in ce.items() if k not in STANDARD}


def mean_corruption_error(m) -> ObjectiveResult:
    errors = m.corruption_errors
    ce, floored = corruption_errors_to_ce(errors, m.reference.corruption_errors, m.n_test)
    std, extra = _split(ce)
    per_severity = {
        str(s): float(np.mean([errors[c][i] for c in std])) for i, s in enumerate(m.severities)
    }
    return ObjectiveResult(
        100.0 * float(np.mean(list(std.values()))),
        {
            "ce": std,
            "ce_extra": extra,
            "errors": errors,
            "mean_error_per_severity": per_severity,
            "reference": m.reference.name,
            "reference_floor_applied": floored,
        },
    )


def relative_mean_corruption_error(m) -> ObjectiveResult:
    errors = m.corruption_errors
    clean = 1.0 - m.clean_accuracy
    ref_clean = 1.0 - m.reference.accuracy
    num = {k: float(np.sum(np.asarray(v) - clean)) for k, v in errors.items()}
    den = {
        k: float(np.sum(np.asarray(m.reference.corruption_errors[k]) - ref_clean)) for k in errors
    }
    rel, floored = _ratios(num, den, len(m.severities) / m.n_test)
    std, extra = _split(rel)
    return ObjectiveResult(
        100.0 * float(np.mean(list(std.values()))),
        {"relative_ce": std, "relative_ce_extra": extra, "reference_floor_applied": floored},
    )


def mean_corruption_accuracy(m) -> ObjectiveResult:
    errors = m.corruption_errors
    per_corruption = {k: 100.0 * (1.0 - float(np.mean(v))) for k, v in errors.items()}
    return ObjectiveResult(
        float(np.mean(list(per_corruption.values()))), {"accuracy": per_corruption}
    )


def robustness_ratio(m) -> ObjectiveResult:
    acc_c = 1.0 - float(np.mean([np.mean(v) for v in m.corruption_errors.values()]))
    if m.clean_accuracy <= 0:
        raise ValueError("robustness_ratio is undefined for a model with 0% clean accuracy")
    return ObjectiveResult(acc_c / m.clean_accuracy, {"corrupted_accuracy": acc_c})
