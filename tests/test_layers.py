"""The layers contract: data flows one way. Every import between moo_compress modules,
including imports inside functions and the ``"module:attribute"`` strings of registries,
goes to a lower (or the same) layer, and the module graph has no cycle.

Imports under ``if TYPE_CHECKING:`` are annotations only, never executed: the downhill rule
leaves them out (import-linter's ``exclude_type_checking_imports``), so ``settings`` may
name the search space's type without importing the engine; the no-cycle rule counts them.

Deprecated re-export shims (old module paths kept for one release) may import anything, and
no module of the package may import them. A module-level ``__getattr__`` is a shim too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "moo_compress"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_utils"),
    ("settings",),  # every setting and its default; the typed YAML reader
    ("record", "storage", "heartbeat", "archive", "selection"),
    ("drivers",),
    # the engine, bottom up: data and the weight primitives, then models and training, then
    # the techniques, then what measures a model
    (
        "data",
        "detection.data",
        "corruptions",
        "weights",  # the weight primitives and the packed file: below models and techniques
        "multicut",
    ),
    ("models", "detection.model", "onnx_runtime", "adversarial", "training"),
    ("compression", "artifact", "space"),
    ("objectives", "detection"),
    ("config",),  # the study-file loader reads every plugin's table
    ("evaluation",),
    ("search",),
    ("study",),  # the one composer: check, evaluator, study, session, driver
    ("workers", "runner", "replay"),
    ("report", "proxy_report", "study_report", "anova", "progress", "export", "model_card"),
    ("api",),  # the Python API: create_study, load_study, Study
    ("cli", "__main__", "__init__"),
]
SHIMS = {
    "moo_compress.compression.constraints",
    "moo_compress.compression.masks",
    "moo_compress.registry",
    "moo_compress.device",
    "moo_compress.detection.evaluation",
}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _layer(module: str) -> int:
    rest = module.split(".", 1)[1] if "." in module else "__init__"
    best, level = -1, None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (rest == n or rest.startswith(n + ".")) and len(n) > best:
                best, level = len(n), i
    assert level is not None, f"{module} is in no layer: add it to LAYERS"
    return level


def _imports(
    module: str, path: Path, mods: dict[str, Path], typing_only: bool = False
) -> set[tuple[str, int, bool]]:
    """(imported module, line, inside a module-level __getattr__) for every reference;
    with ``typing_only``, the imports under ``if TYPE_CHECKING:`` too."""
    tree = ast.parse(path.read_text())
    shim_nodes = set()
    annotations = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            annotations |= {id(n) for b in node.body for n in ast.walk(b)}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            shim_nodes |= {id(n) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in annotations and not typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
                stem = ".".join(base[:keep] + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            cands = [stem] + [f"{stem}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            cands = [a.name for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"(moo_compress(?:\.\w+)+):\w+", node.value)
            cands = [m.group(1)] if m else []
        else:
            continue
        for c in cands:
            if c in mods and c != module and not module.startswith(c + "."):
                out.add((c, node.lineno, id(node) in shim_nodes))
    return out


def test_every_import_goes_downhill_and_nothing_imports_a_shim():
    mods = _modules()
    bad = []
    for module, path in sorted(mods.items()):
        for target, line, in_getattr in sorted(_imports(module, path, mods)):
            if target in SHIMS and module not in SHIMS:
                bad.append(f"{path.name}:{line}: {module} imports the deprecated shim {target}")
            if module in SHIMS or in_getattr:
                continue
            if _layer(target) > _layer(module):
                bad.append(
                    f"{module}:{line} imports {target} (layer {_layer(target)} above "
                    f"{_layer(module)})"
                )
    assert not bad, "\n".join(bad)


def test_no_import_cycles_counting_function_imports_and_registry_strings():
    mods = _modules()
    graph = {
        m: {
            t
            for t, _, shim in _imports(m, p, mods, typing_only=True)
            if not shim and m not in SHIMS
        }
        for m, p in mods.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_checker_sees_function_imports_and_registry_strings(tmp_path):
    """The contract cannot pass by not looking."""
    mods = {"moo_compress.a": tmp_path / "a.py", "moo_compress.b": tmp_path / "b.py"}
    mods["moo_compress.a"].write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from moo_compress import c\n"
        'def f():\n    from moo_compress import b\nX = "moo_compress.b:thing"\n'
    )
    mods["moo_compress.c"] = tmp_path / "c.py"
    found = _imports("moo_compress.a", mods["moo_compress.a"], mods)
    assert {(t, line) for t, line, _ in found} == {("moo_compress.b", 5), ("moo_compress.b", 6)}
    with_annotations = _imports("moo_compress.a", mods["moo_compress.a"], mods, typing_only=True)
    assert ("moo_compress.c", 3) in {(t, line) for t, line, _ in with_annotations}


def test_tests_mirror_the_package():
    """A test folder is named after the package it tests (``tests/storage`` tests
    ``moo_compress/storage``); tests spanning several modules stay at the top."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders <= packages, sorted(folders - packages)


def test_no_two_rooms_import_each_other():
    """A room is a top-level module or folder of the package (``compression``, ``models``,
    ``weights``, ...). Imports between two rooms go one way only: the weight primitives sit
    below models, ONNX export and the techniques, and never call back up."""
    mods = _modules()
    edges = set()

    def room(module: str) -> str:
        return module.split(".")[1] if "." in module else "__init__"

    for module, path in mods.items():
        if module in SHIMS:
            continue
        for target, _, in_getattr in _imports(module, path, mods):
            if not in_getattr and room(module) != room(target):
                edges.add((room(module), room(target)))
    both = sorted({tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges})
    assert not both, both


def test_moved_weight_modules_warn_and_forward():
    import warnings

    import pytest

    from moo_compress.compression import constraints, masks
    from moo_compress.weights import constraints as new_constraints
    from moo_compress.weights import masks as new_masks

    with pytest.warns(DeprecationWarning, match="moved to moo_compress.weights.constraints"):
        assert constraints.prunable_layers is new_constraints.prunable_layers
    with pytest.warns(DeprecationWarning, match="moved to moo_compress.weights.masks"):
        assert masks.PruneContext is new_masks.PruneContext
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            constraints.__wrapped__  # noqa: B018


def test_every_function_level_import_of_the_package_gives_its_reason():
    """An import of the package's own modules inside a function keeps a heavy dependency
    (torch, or for ``--help``, numpy and YAML) out of a module that loads without it; a
    comment on the line above the import block, or on one of its lines, says which.
    Imports that only broke a cycle or crossed a layer have moved to the top."""
    missing = []
    for path in sorted(_modules().values()):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if (
                not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                or fn.name == "__getattr__"
            ):
                continue
            for node in ast.walk(fn):
                if not (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and (node.module or "").startswith("moo_compress")
                ):
                    continue
                start = node.lineno - 1  # the block: the import and blank lines above it
                while start > 0 and (
                    not lines[start - 1].strip()
                    or lines[start - 1].strip().startswith(("from ", "import "))
                ):
                    start -= 1
                block = lines[start : node.end_lineno]
                above = lines[start - 1].strip() if start else ""
                if not above.startswith("#") and not any("#" in line for line in block):
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not missing, "function-level imports without a reason:\n" + "\n".join(missing)
