"""Hostile study and search-space files: exit code 2, one short line, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from moo_compress.cli import main
from tests.conftest import write_study


def _refused(tmp_path: Path, study: Path, capsys, *argv: str) -> str:
    """Run ``search`` on ``study``; check exit 2, one line, no database, no cache."""
    code = main(["search", str(study), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert len(err) < 600, err[:600]
    assert not study.with_suffix(".db").exists()
    assert not (tmp_path / "cache").exists()
    return err


def _bomb(levels: int) -> str:
    """A "billion laughs" flow list: level i holds 9 aliases of level i - 1."""
    items = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return f"[{', '.join(items)}]"


@pytest.mark.parametrize("target", ["study.yaml", "space.yaml"])
def test_non_utf8_file_names_the_byte_offset(tmp_path, capsys, target):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    path = tmp_path / target
    raw = path.read_bytes()
    offset = raw.index(b"\n", 5) + 1
    path.write_bytes(raw[:offset] + b"# caf\xe9\n" + raw[offset:])
    err = _refused(tmp_path, study, capsys)
    bad = offset + len(b"# caf")
    assert f"{path}: must be UTF-8 text. Got byte 0xe9 at byte offset {bad}" in err


def test_alias_bomb_in_study_name_is_refused_quickly(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    text = study.read_text().replace("study: {name: tiny, seed: 3}", "study: {seed: 3, name: X}")
    study.write_text(text.replace("name: X", f"name: {_bomb(6)}"))  # 9**6 leaves once expanded
    err = _refused(tmp_path, study, capsys)
    assert "study.name: expands through YAML aliases" in err and "alias bomb" in err

    study.write_text(text.replace("name: X", f"name: {_bomb(9)}"))  # 9**9 * 9: the 4 GB file
    start = time.perf_counter()
    err = _refused(tmp_path, study, capsys)
    assert time.perf_counter() - start < 5
    assert "study.name: expands through YAML aliases" in err


@pytest.mark.parametrize("target", ["study.yaml", "space.yaml"])
def test_unreadable_file_exits_2_naming_it(tmp_path, capsys, monkeypatch, target):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    path = tmp_path / target
    real_open = Path.open

    def deny(self, *args, **kwargs):  # tests run as root, where chmod 000 does not stop reads
        if self.name == target:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    err = _refused(tmp_path, study, capsys)
    assert f"{path}: cannot read the " in err and "(PermissionError: Permission denied)" in err


def test_directory_instead_of_a_file(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "folder.yaml").mkdir()
    assert main(["search", str(tmp_path / "folder.yaml")]) == 2
    assert "folder.yaml: is a directory, not a file; expected a study file" in (
        capsys.readouterr().err
    )
    study.write_text(study.read_text().replace("search_space: space.yaml", "search_space: ."))
    err = _refused(tmp_path, study, capsys)
    assert "search_space: must name an existing search-space file" in err


@pytest.mark.parametrize("cache", ["space.yaml", "space.yaml/inner"])
def test_cache_dir_on_an_existing_file(tmp_path, capsys, cache):
    study = write_study(tmp_path)
    study.write_text(study.read_text() + f"cache_dir: {cache}\n")
    err = _refused(tmp_path, study, capsys)
    assert f"{study}: cache_dir: must be a folder or a path where one can be created" in err
    assert f"{tmp_path / 'space.yaml'} is an existing file. Got '{cache}' instead." in err


def test_default_cache_dir_on_an_existing_file(tmp_path, capsys):
    study = write_study(tmp_path)
    study.with_suffix(".cache").write_text("")
    err = _refused(tmp_path, study, capsys)
    assert "cache_dir: must be a folder" in err and "the default <study>.cache is used" in err


@pytest.mark.parametrize(
    "target,old,new,expected",
    [
        (
            "study.yaml",
            "budget: {n_trials: 8}",
            "budget: {n_trials: 8}\nbudget: {n_trials: 3}",
            "study.yaml: budget: is given on lines 13 and 14 of one mapping",
        ),
        (
            "study.yaml",
            "{name: tiny, seed: 3}",
            "{name: tiny, seed: 3, name: other}",
            "study.yaml: study.name: is given twice on line 2 of one mapping",
        ),
        (
            "space.yaml",
            "{type: int, low: 0, high: 1}",
            "{type: int, low: 0, high: 1, low: 1}",
            "space.yaml: variables.finetune_epochs.low: is given twice on line 7",
        ),
    ],
)
def test_repeated_keys_are_refused(tmp_path, capsys, target, old, new, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    path = tmp_path / target
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    assert expected in _refused(tmp_path, study, capsys)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        (
            "budget:",
            "budjet:",
            "budjet: is not a known key (did you mean budget?). Allowed keys here: "
            "{adversarial, baseline, budget, cache_dir, constraints, corruptions, dataset,",
        ),
        (
            "search_space:",
            "searchspace:",
            "searchspace: is not a known key (did you mean search_space?)",
        ),
        (
            "{name: tiny, seed: 3}",
            "{nmae: tiny, seed: 3}",
            "study.nmae: is not a known key (did you mean name?). Allowed keys here: "
            "{description, name, seed, task}. Got 'nmae' instead.",
        ),
        ("{n_trials: 8}", "{n_trails: 8}", "budget.n_trails: is not a known key"),
        ("{name: accuracy,", "{nmae: accuracy,", "objectives[0].nmae: is not a known key"),
        (
            "{name: digits, test_fraction: 0.3}",
            "{name: cifar10, rot: data}",
            "dataset.rot: is not a known key (did you mean root?). Allowed keys here: "
            "{corrupted_root, greyscale, name, root, test_subset, train_subset",
        ),
    ],
)
def test_unknown_keys_are_reported_first(tmp_path, capsys, old, new, expected):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    assert old in study.read_text()
    study.write_text(study.read_text().replace(old, new))
    err = _refused(tmp_path, study, capsys)
    assert expected in err
    assert "required but missing" not in err


def test_misspelt_required_key_of_a_space_variable(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    space = tmp_path / "space.yaml"
    space.write_text(space.read_text().replace("{type: int, low: 0", "{typ: int, low: 0"))
    err = _refused(tmp_path, study, capsys)
    assert "variables.finetune_epochs.typ: is not a known key (did you mean type?)" in err


def test_search_space_pointing_at_a_text_file_prints_a_short_line(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "notes.txt").write_text("lorem ipsum dolor sit amet " * 20_000)
    study.write_text(study.read_text().replace("space.yaml", "notes.txt"))
    err = _refused(tmp_path, study, capsys)
    assert "notes.txt: <top level>: must be a mapping. Got 'lorem ipsum" in err
    assert "... (539999 characters) instead." in err


def test_long_values_and_keys_are_cut_before_rendering(tmp_path, capsys):
    study = write_study(tmp_path, cache_dir=tmp_path / "cache")
    text = study.read_text()
    values = f"[{', '.join(['abc'] * 100_000)}]"
    study.write_text(text + f"? {'k' * 10_000}\n: {values}\n")  # an explicit (long) key
    err = _refused(tmp_path, study, capsys)
    assert "is not a known key" in err and "k" * 100 not in err
    study.write_text(text.replace("search_space: space.yaml", f"search_space: {values}"))
    err = _refused(tmp_path, study, capsys)
    assert "search_space: must be a non-empty string. Got ['abc', 'abc'," in err
    study.write_text(text.replace("{name: tiny,", "{name: " + "n" * 600 + ","))
    assert "study.name: must be at most 512 characters" in _refused(tmp_path, study, capsys)
