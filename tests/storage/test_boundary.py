"""Two boundaries, checked on the source (``ast``) of every module of the package and of the
benchmarks:

- Optuna's private attributes (a study's storage, a trial's storage id, the storage's
  backend, Optuna's system attributes, its private modules) are used in
  ``moo_compress/storage/_optuna.py`` only; everything else calls its functions.
- The trial record's attribute names are written and read in ``moo_compress/record.py``
  only; everything else calls its writers and readers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "moo_compress"
STORAGE = PACKAGE / "storage" / "_optuna.py"
RECORD = PACKAGE / "record.py"

# Optuna internals moo-compress needs; storage/_optuna.py wraps each in a function.
OPTUNA_PRIVATE = {
    "_storage",  # study._storage
    "_trial_id",  # Trial._trial_id, FrozenTrial._trial_id
    "_study_id",  # study._study_id
    "_backend",  # _CachedStorage._backend
    "_cached_frozen_trial",  # Trial's view of itself
    "system_attrs",  # Optuna's bookkeeping (enqueued parameters, sampler generations)
    "set_trial_system_attr",
    "_get_generation_key",  # the system attribute Optuna's NSGA-II groups generations by
}

# The trial record's user attributes (moo_compress/record.py).
RECORD_KEYS = {
    "config",
    "config_key",
    "worker",
    "generation",
    "objectives",
    "result",
    "fail_reason",
}
ATTR_CONTAINERS = {"user_attrs", "attrs"}  # Optuna's trial attributes, TrialRecord.attrs


def modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    assert len(files) > 20 and STORAGE in files and RECORD in files
    return files


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def optuna_private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every reach into Optuna's internals in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in OPTUNA_PRIVATE:
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1:
                if _string(node.args[1]) in OPTUNA_PRIVATE:
                    found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna"):
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append((node.lineno, f"from {node.module} import"))
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "optuna" and any(p.startswith("_") for p in parts):
                    found.append((node.lineno, f"import {alias.name}"))
    return found


def _is_container(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in ATTR_CONTAINERS


def record_key_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every trial-record attribute named by its raw key in ``tree``:
    ``set_user_attr("key", ...)``, ``set_trial_user_attr(id, "key", ...)``,
    ``x.user_attrs["key"]``, ``x.user_attrs.get("key")`` and ``"key" in x.user_attrs``
    (also on ``TrialRecord.attrs``)."""
    found = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr == "set_user_attr" and node.args:
                key = _string(node.args[0])
            elif attr == "set_trial_user_attr" and len(node.args) > 1:
                key = _string(node.args[1])
            elif attr in ("get", "pop", "setdefault") and _is_container(node.func.value):
                key = _string(node.args[0]) if node.args else None
        elif isinstance(node, ast.Subscript) and _is_container(node.value):
            key = _string(node.slice)
        elif isinstance(node, ast.Compare) and _is_container(node.comparators[0]):
            if isinstance(node.ops[0], (ast.In, ast.NotIn)):
                key = _string(node.left)
        if key in RECORD_KEYS:
            found.append((node.lineno, repr(key)))
    return found


@pytest.mark.parametrize("path", modules(), ids=_name)
def test_optuna_private_attributes_only_in_storage(path):
    if path == STORAGE:
        return
    uses = optuna_private_uses(ast.parse(path.read_text(), str(path)))
    assert not uses, (
        f"{_name(path)} reaches into Optuna's internals "
        f"({', '.join(f'line {n}: {w}' for n, w in uses)}); add or use a function of "
        "moo_compress/storage/_optuna.py instead"
    )


@pytest.mark.parametrize("path", modules(), ids=_name)
def test_trial_record_keys_only_in_record(path):
    if path == RECORD:
        return
    uses = record_key_uses(ast.parse(path.read_text(), str(path)))
    assert not uses, (
        f"{_name(path)} names trial-record attributes by their raw keys "
        f"({', '.join(f'line {n}: {w}' for n, w in uses)}); use the writers and readers of "
        "moo_compress/record.py instead"
    )


def test_checks_see_what_they_forbid():
    """The walkers find each form they forbid (so an empty result means something)."""
    private = """
from optuna.storages._rdb import models
import optuna.storages._cached_storage
s = study._storage
s.get_trial(trial._trial_id)
b = getattr(s, "_backend", s)
q = t.system_attrs.get("fixed_params")
"""
    assert sorted(line for line, _ in optuna_private_uses(ast.parse(private))) == [2, 3, 4, 5, 6, 7]
    keys = """
trial.set_user_attr("fail_reason", r)
storage.set_trial_user_attr(tid, "config", c)
a = t.user_attrs["objectives"]
b = t.user_attrs.get("config_key")
c = "worker" in t.user_attrs
d = "generation" not in t.user_attrs
e = rec.attrs["result"]
study.set_user_attr("budget", x)
f = meta["objectives"]
"""
    assert [line for line, _ in record_key_uses(ast.parse(keys))] == [2, 3, 4, 5, 6, 7, 8]
