"""Add the import a changed file forgot, when the workspace leaves no doubt which one.

Moving a function into a new module, small models write the call sites and forget the import
(measured: `subscribe()` calling `is_valid_email` with no import, four turns in a row, each shown
the NameError). After a turn's writes, every changed Python file is read with `ast`: a name it
uses but never binds (no assignment, parameter, definition or import, not a builtin) that exactly
one *other* top-level workspace module defines publicly gets ``from <module> import <name>``
after the file's last top-level import. Anything ambiguous is left for the model and the tests.
"""

from __future__ import annotations

import ast
import builtins
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


def add_missing_imports(ws: Workspace, changed: list[str]) -> list[str]:
    """Fix the changed files in place; one line per import added ("added `from m import f` to x.py")."""
    providers = None
    notes = []
    for rel, text, tree in parsed_python(ws, changed):
        missing = _unbound(tree)
        if not missing:
            continue
        providers = providers if providers is not None else _providers(ws)
        me = Path(rel).stem
        imports = []
        for name in missing:
            mods = [m for m in providers.get(name, []) if m != me]
            if len(mods) == 1:
                imports.append(f"from {mods[0]} import {name}\n")
        if not imports:
            continue
        lines = text.splitlines(keepends=True)
        at = _insert_line(tree)
        if lines[at - 1:at] and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        lines[at:at] = imports + (["\n"] if at == 0 else [])
        ws.write_text(rel, "".join(lines))
        notes += [f"added `{imp.strip()}` to {rel} (it used {imp.split()[-1]} without importing it)" for imp in imports]
    return notes
