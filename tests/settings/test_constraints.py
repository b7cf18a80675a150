"""The constraint kinds' values (Optuna's convention: <= 0 when met)."""

from __future__ import annotations

import pytest

from moo_compress.settings import Constraint


@pytest.mark.parametrize(
    "constraint,measured,baseline,expected",
    [
        (Constraint("accuracy", "min", 97), 96.0, None, 1.0),
        (Constraint("accuracy", "min", 97), 98.5, None, -1.5),
        (Constraint("latency_ms", "max", 2), 2.5, None, 0.5),
        (Constraint("accuracy", "max_drop", 1.0), 96.5, 98.0, 0.5),
        (Constraint("accuracy", "max_drop", 1.0), 97.5, 98.0, -0.5),
        (Constraint("accuracy", "max_relative_drop", 0.01), 96.0, 100.0, 0.03),
        (Constraint("mce", "max_increase", 10), 125.0, 100.0, 15.0),
        (Constraint("mce", "max_relative_increase", 0.1), 105.0, 100.0, -0.05),
    ],
)
def test_values_follow_optunas_convention(constraint, measured, baseline, expected):
    assert constraint.value(measured, baseline) == pytest.approx(expected)


def test_relative_kinds_need_a_usable_baseline():
    with pytest.raises(ValueError, match="needs the baseline"):
        Constraint("accuracy", "max_drop", 1).value(90.0)
    with pytest.raises(ValueError, match="baseline accuracy of 0"):
        Constraint("accuracy", "max_relative_drop", 0.1).value(90.0, 0.0)
