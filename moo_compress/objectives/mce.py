"""Mean corruption error relative to a reference model (the uncompressed baseline).

CE_c = sum_s E(model, c, s) / sum_s E(ref, c, s);  mCE = 100 * mean_c CE_c.

If the reference makes no error at all on a corruption (possible on easy data), its error
sum is floored at one misclassified image per severity, so CE stays finite; the floor is
reported in the details.
"""

from __future__ import annotations

import numpy as np

from moo_compress.objectives.base import ObjectiveResult


def corruption_errors_to_ce(
    errors: dict[str, list[float]], ref_errors: dict[str, list[float]], n_test: int
) -> tuple[dict[str, float], list[str]]:
    ce, floored = {}, []
    for name, errs in errors.items():
        ref = float(np.sum(ref_errors[name]))
        floor = len(ref_errors[name]) / n_test
        if ref < floor:
            floored.append(name)
            ref = floor
        ce[name] = float(np.sum(errs)) / ref
    return ce, floored


def mean_corruption_error(m) -> ObjectiveResult:
    errors = m.corruption_errors
    ce, floored = corruption_errors_to_ce(errors, m.reference.corruption_errors, m.n_test)
    return ObjectiveResult(
        100.0 * float(np.mean(list(ce.values()))),
        {"ce": ce, "errors": errors, "reference_floor_applied": floored},
    )
