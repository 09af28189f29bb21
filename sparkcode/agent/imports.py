"""Add the import a changed file forgot, when the workspace leaves no doubt which one.

Moving a function into a new module, small models write the call sites and forget the import
(measured: `subscribe()` calling `is_valid_email` with no import, four turns in a row, each shown
the NameError). After a turn's writes, every changed Python file is read with `ast`: a name it
uses but never binds (no assignment, parameter, definition or import, not a builtin) that exactly
one *other* top-level workspace module defines publicly gets ``from <module> import <name>``
after the file's last top-level import. And a never-bound name used only as ``name.attr`` that is
a standard-library module having every attribute used (``os.path.exists`` with no ``import os``;
measured: csvsum.py failed every test with that NameError through six turns, the model repeating
"the os module is imported correctly") gets ``import name``, unless a workspace module has that
name; so does one that is a top-level workspace module defining every attribute used
(``durations.parse_duration`` in a test file with no ``import durations``), and a bare name that
exactly one standard-library module the file imports whole defines publicly gets
``from module import name`` (``TemporaryDirectory()`` after ``import tempfile``). Anything
ambiguous is left for the model and the tests. The acceptance tests get the same (`with_missing_imports`;
measured: held to a test file, the 1.5B wrote rle's tests calling `encode` with no
`from rle import encode`, and they were refused as testing nothing of the workspace).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
from pathlib import Path

from .names import parsed_python, python_names
from .workspace import Workspace


def _bound(tree: ast.Module) -> set[str]:
    """Every name the module binds anywhere (one flat scope: enough to see what is never bound)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                names.add("*")
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _unbound(tree: ast.Module) -> list[str]:
    bound = _bound(tree)
    if "*" in bound:
        return []  # a star import may bind anything
    used = dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return [n for n in used if n not in bound and not hasattr(builtins, n) and n != "__file__"]


def _providers(ws: Workspace) -> dict[str, list[str]]:
    """Public top-level names -> the top-level workspace modules (not tests) that define them."""
    out: dict[str, list[str]] = {}
    for n in python_names(ws):
        if "." not in n.qualname and "/" not in n.path and not n.path.startswith("test_"):
            out.setdefault(n.qualname, []).append(Path(n.path).stem)
    return out


_NEVER_IMPORTED = {"antigravity", "this", "turtle", "tkinter", "idlelib", "turtledemo", "pydoc"}


def _attributes_used(name: str, tree: ast.Module, parents: dict[int, ast.AST]) -> set[str]:
    """The attributes `name` is used with, if it is used only as `name.attr` (else an empty set);
    `parents`: each node's parent, by id, made once per file."""
    attrs = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load):
            parent = parents.get(id(n))
            if not (isinstance(parent, ast.Attribute) and parent.value is n):
                return set()
            attrs.add(parent.attr)
    return attrs


def _stdlib_module(name: str, attrs: set[str], ws_modules: set[str]) -> bool:
    """`name` is a standard-library module with every attribute in `attrs`."""
    if name not in sys.stdlib_module_names or name in _NEVER_IMPORTED or name in ws_modules:
        return False
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a module that cannot load here is not added
        return False
    return all(hasattr(module, a) for a in attrs)


def _imported_modules(tree: ast.Module) -> list[str]:
    """The top-level modules the file imports whole, without an alias (`import os.path` gives os)."""
    return list(dict.fromkeys(a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import)
                              for a in n.names if a.asname is None))


def _insert_line(tree: ast.Module) -> int:
    """0-based line after the last top-level import (or the docstring / __future__ imports)."""
    at = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            at = node.end_lineno
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and at == 0 and node is tree.body[0]:
            at = node.end_lineno
        else:
            break
    return at


def with_missing_imports(text: str, ws: Workspace) -> tuple[str, list[str]]:
    """(`text` with the imports it forgot added, the import lines added) for Python source that is
    not a workspace module (a test file); unchanged if it does not parse."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text, []
    missing = _unbound(tree)
    return _with_imports(text, tree, missing, ws, "", _providers(ws)) if missing else (text, [])


def _with_imports(text: str, tree: ast.Module, missing: list[str], ws: Workspace, me: str,
                  providers: dict[str, list[str]]) -> tuple[str, list[str]]:
    """`text` (module `me`, parsed as `tree`) with an import for each `missing` name the workspace
    or the standard library settles, and those import lines."""
    ws_modules = {Path(f).stem for f in ws.list_files() if f.endswith(".py")}
    imports = []
    parents: dict[int, ast.AST] | None = None
    whole: list[str] | None = None  # the modules the file imports whole, read when first needed
    for name in missing:
        mods = [m for m in providers.get(name, []) if m != me]
        if len(mods) == 1:
            imports.append(f"from {mods[0]} import {name}\n")
        elif not mods and (name in sys.stdlib_module_names or name in ws_modules and name != me):
            parents = parents or {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
            attrs = _attributes_used(name, tree, parents)
            ours = name in ws_modules and attrs and attrs <= {q for q, ms in providers.items() if name in ms}
            if attrs and (ours or _stdlib_module(name, attrs, ws_modules)):
                imports.append(f"import {name}\n")
        elif not mods and not name.startswith("_"):
            # a name the file means from a standard-library module it imports whole (measured: `import
            # tempfile`, then `TemporaryDirectory()`: every test of a to-do CLI failed with that NameError)
            whole = whole if whole is not None else _imported_modules(tree)
            mods = [m for m in whole if _stdlib_module(m, {name}, ws_modules)]
            if len(mods) == 1:
                imports.append(f"from {mods[0]} import {name}\n")
    if not imports:
        return text, []
    lines = text.splitlines(keepends=True)
    at = _insert_line(tree)
    if lines[at - 1:at] and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    lines[at:at] = imports + (["\n"] if at == 0 else [])
    return "".join(lines), [i.strip() for i in imports]


def add_missing_imports(ws: Workspace, changed: list[str]) -> list[str]:
    """Fix the changed files in place; one line per import added ("added `from m import f` to x.py")."""
    providers = None
    notes = []
    for rel, text, tree in parsed_python(ws, changed):
        missing = _unbound(tree)
        if not missing:
            continue
        providers = providers if providers is not None else _providers(ws)
        fixed, imports = _with_imports(text, tree, missing, ws, Path(rel).stem, providers)
        if not imports:
            continue
        ws.write_text(rel, fixed)
        notes += [f"added `{imp}` to {rel} (it used {imp.split()[-1]} without importing it)" for imp in imports]
    return notes
