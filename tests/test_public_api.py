"""The public API is listed and documented (issue 13), checked with ``ast`` on every module of
the package:

- every module lists its public names in ``__all__`` (a module that defines no public function
  or class, such as ``__main__``, may do without), and every name there exists in the module;
- every public top-level function and class, and every public method of a public class, has a
  docstring;
- every public function and class that takes parameters (``self``/``cls`` aside) has an
  ``Args:`` section naming each of them (a class's in its own docstring or ``__init__``'s; a
  dataclass's parameters are its fields).

Run ``python tests/test_public_api.py`` for the counts per module.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "moo_compress"

# being restructured (issue 13); remove from this list when done
NOT_YET: set[str] = set()


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


MODULES = _modules()


@dataclass
class Findings:
    """What one module lacks.

    Args:
        no_all: the module defines public functions or classes but has no ``__all__``.
        unknown_in_all: names listed in ``__all__`` that the module does not define or import.
        no_docstring: public functions, classes and methods without a docstring.
        no_args: public functions and classes with parameters but no ``Args:`` section.
        args_missing: ``(object, parameter)`` for parameters an ``Args:`` section leaves out.
    """

    no_all: bool = False
    unknown_in_all: list[str] = field(default_factory=list)
    no_docstring: list[str] = field(default_factory=list)
    no_args: list[str] = field(default_factory=list)
    args_missing: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every finding as one line of text."""
        out = ["no __all__"] if self.no_all else []
        out += [f"{n} is in __all__ but not defined" for n in self.unknown_in_all]
        out += [f"{n}: no docstring" for n in self.no_docstring]
        out += [f"{n}: no Args: section" for n in self.no_args]
        out += [f"{n}: not described under Args:" for n in self.args_missing]
        return out


def _public(name: str) -> bool:
    return not name.startswith("_")


def _bound_names(body: list[ast.stmt]) -> set[str]:
    """Names a module body binds at its top level (inside if/try blocks too)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try)):
            for block in ("body", "orelse", "finalbody"):
                names |= _bound_names(getattr(node, block, []))
            for h in getattr(node, "handlers", []):
                names |= _bound_names(h.body)
    return names


def _all_names(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
    return None


def _is_dataclass(cls: ast.ClassDef) -> bool:
    for d in cls.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return any(getattr(b, "id", getattr(b, "attr", "")) == "NamedTuple" for b in cls.bases)


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if method and names and names[0] in ("self", "cls"):
        names = names[1:]
    names += [x.arg for x in a.kwonlyargs]
    if a.vararg:
        names.append(a.vararg.arg)
    if a.kwarg:
        names.append(a.kwarg.arg)
    return names


def _fields(cls: ast.ClassDef) -> list[str]:
    """The constructor parameters of a dataclass or NamedTuple: its annotated fields."""
    out = []
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if "ClassVar" in ast.unparse(node.annotation):
            continue
        v = node.value
        if (
            isinstance(v, ast.Call)
            and getattr(v.func, "id", getattr(v.func, "attr", "")) == "field"
            and any(
                k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in v.keywords
            )
        ):
            continue
        out.append(node.target.id)
    return out


_SECTION = re.compile(r"^(\s*)Args:\s*$", re.M)


def _args_section(doc: str | None) -> str | None:
    """The text of a docstring's ``Args:`` section, or None when it has none."""
    if not doc:
        return None
    m = _SECTION.search(doc)
    if not m:
        return None
    indent = len(m.group(1))
    lines = []
    for line in doc[m.end() :].splitlines()[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        lines.append(line)
    return "\n".join(lines)


def _described(section: str, param: str) -> bool:
    return re.search(rf"^\s*\**{re.escape(param)}\b[^:\n]*:", section, re.M) is not None


def _is_accessor(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A property's setter or deleter: documented by the property itself."""
    return any(
        isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in fn.decorator_list
    )


def check(path: Path) -> Findings:
    """Parse one module and list what its public API lacks.

    Args:
        path: the module's source file.

    Returns:
        The module's findings (empty lists and ``no_all`` False when it is complete).
    """
    tree = ast.parse(path.read_text())
    f = Findings()
    defs = [
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _public(n.name)
    ]
    listed = _all_names(tree)
    if listed is None:
        f.no_all = bool(defs)
    else:
        bound = _bound_names(tree.body)
        f.unknown_in_all = [n for n in listed if n not in bound]

    def need_args(label: str, params: list[str], docs: list[str | None]) -> None:
        if not params:
            return
        sections = [s for s in map(_args_section, docs) if s is not None]
        if not sections:
            f.no_args.append(label)
            return
        text = "\n".join(sections)
        f.args_missing += [f"{label}({p})" for p in params if not _described(text, p)]

    for node in defs:
        doc = ast.get_docstring(node)
        if doc is None:
            f.no_docstring.append(node.name)
        if isinstance(node, ast.ClassDef):
            init = next(
                (m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == "__init__"),
                None,
            )
            if init is not None:
                need_args(node.name, _params(init, True), [doc, ast.get_docstring(init)])
            elif _is_dataclass(node):
                need_args(node.name, _fields(node), [doc])
            for m in node.body:
                if (
                    isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and _public(m.name)
                    and not _is_accessor(m)
                    and ast.get_docstring(m) is None
                ):
                    f.no_docstring.append(f"{node.name}.{m.name}")
        else:
            need_args(node.name, _params(node, False), [doc])
    return f


CHECKED = sorted(set(MODULES) - NOT_YET)


def test_not_yet_names_real_modules():
    assert NOT_YET <= set(MODULES), sorted(NOT_YET - set(MODULES))


@pytest.mark.parametrize("module", CHECKED)
def test_public_api_is_listed_and_documented(module):
    problems = check(MODULES[module]).problems()
    assert not problems, f"{module}:\n  " + "\n  ".join(problems)


def test_the_checker_sees_what_is_missing(tmp_path):
    """The check cannot pass by not looking."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(a, b=1):\n"
        '    """Doc.\n\n    Args:\n        a: The a.\n    """\n'
        "def g(x):\n    pass\n"
        "@dataclass\nclass C:\n"
        '    """Doc."""\n\n    n: int\n\n    def m(self):\n        pass\n'
    )
    f = check(bad)
    assert f.no_all
    assert f.no_docstring == ["g", "C.m"]
    assert f.no_args == ["g", "C"]
    assert f.args_missing == ["f(b)"]
    bad.write_text('__all__ = ["h"]\n')
    assert check(bad).unknown_in_all == ["h"] and not check(bad).no_all


def _report(modules: list[str]) -> dict[str, int]:
    totals = dict.fromkeys(
        [
            "modules",
            "no __all__",
            "no docstring",
            "method no docstring",
            "no Args:",
            "param left out",
        ],
        0,
    )
    for m in modules:
        f = check(MODULES[m])
        totals["modules"] += 1
        totals["no __all__"] += f.no_all
        totals["no docstring"] += sum("." not in n for n in f.no_docstring)
        totals["method no docstring"] += sum("." in n for n in f.no_docstring)
        totals["no Args:"] += len(f.no_args)
        totals["param left out"] += len(f.args_missing)
    return totals


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    for m in MODULES:
        problems = check(MODULES[m]).problems()
        if problems:
            print(f"{m}{' (NOT_YET)' if m in NOT_YET else ''}: {len(problems)}")
            if verbose:
                print("  " + "\n  ".join(problems))
    print("all modules:", _report(list(MODULES)))
    print("checked modules:", _report(CHECKED))
    print("NOT_YET modules:", _report(sorted(NOT_YET)))
