"""The study file's ``constraints`` section: accepted forms, the values of each kind, and bad
input refused with exit code 2 before anything is written."""

from __future__ import annotations

import pytest

from moo_compress.cli import main
from moo_compress.config import Constraint, load_study_config
from tests.conftest import write_study


def test_forms_and_record(tmp_path):
    study = write_study(
        tmp_path,
        extra="record: [accuracy, cr]\nconstraints:\n"
        "  accuracy: {max_drop: 1.5, min: 90}\n  latency_ms: '<= 2'\n",
    )
    cfg = load_study_config(study)
    assert cfg.constraints == (
        Constraint("accuracy", "max_drop", 1.5),
        Constraint("accuracy", "min", 90.0),
        Constraint("latency_ms", "max", 2.0),
    )
    assert [c.label for c in cfg.constraints] == [
        "accuracy max_drop 1.5",
        "accuracy >= 90",
        "latency_ms <= 2",
    ]
    # a constrained objective is measured even when `record` does not list it
    assert "latency_ms" in cfg.record
    assert cfg.settings()["constraints"][2] == {
        "objective": "latency_ms",
        "kind": "max",
        "bound": 2.0,
    }


def test_a_study_without_constraints_keeps_its_fingerprint(tmp_path):
    """Constraints enter the study's settings only when given (golden fingerprints hold)."""
    cfg = load_study_config(write_study(tmp_path))
    assert cfg.constraints == () and "constraints" not in cfg.settings()
    with_c = load_study_config(write_study(tmp_path / "c", extra="constraints: {cr: '>= 2'}\n"))
    assert with_c.fingerprint() != cfg.fingerprint()


BAD = [
    ("constraints: [1]\n", "constraints: must be a mapping of objective names to bounds"),
    ("constraints: {acuracy: {min: 1}}\n", "constraints.acuracy: is not a known key"),
    (
        "constraints: {accuracy: {max_increase: 1}}\n",
        "constraints.accuracy.max_increase: is not a known key. Allowed keys here: "
        "{max, max_drop, max_relative_drop, min}",
    ),
    (
        "constraints: {mce: {max_drop: 1}}\n",
        "constraints.mce.max_drop: is not a known key. Allowed keys here: "
        "{max, max_increase, max_relative_increase, min}",
    ),
    ("constraints: {accuracy: '>> 3'}\n", "constraints.accuracy: must be '>= <number>'"),
    ("constraints: {accuracy: 97}\n", "constraints.accuracy: must be '>= <number>'"),
    ("constraints: {accuracy: {}}\n", "constraints.accuracy: must be '>= <number>'"),
    ("constraints: {accuracy: {max_drop: -1}}\n", "constraints.accuracy.max_drop: must be"),
    ("constraints: {accuracy: {min: high}}\n", "constraints.accuracy.min: must be a number"),
    ("constraints: {map: '>= 3'}\n", "constraints.map: is not a known key"),
]


@pytest.mark.parametrize("text,expected", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_constraints_exit_2_and_create_nothing(tmp_path, capsys, text, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache", extra=text)
    code = main(["search", str(study), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert not study.with_suffix(".db").exists()
    assert not (tmp_path / "cache").exists()
