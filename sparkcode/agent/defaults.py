"""Give each call its own copy of a mutable default argument that the function keeps or changes.

``def __init__(self, items=[]): self.items = items`` makes every object that leaves `items` out
share one list — Python's best-known trap (flake8-bugbear B006, ruff's "unsafe" fix does the
same). Small models copy it from the code in view: measured, in fix-shared-cart ("two carts
share their items") the 1.5B wrote `items: List[str] = []` again in all three attempts, twelve
turns, each shown the failing test. After a turn's writes, every changed Python file is read
with `ast`; a parameter whose default is a list, dict or set display (or ``list()``, ``dict()``,
``set()``) and that its function stores (``self.items = items``, ``x.y = items``) or changes in
place (``items.append(…)``, ``items[k] = …``, ``items += …``) gets the default None, and the body
starts with ``if items is None: items = []`` (after a docstring). A default only read is left
alone. Callers that pass the argument see no difference.
"""

from __future__ import annotations

import ast

from .names import parsed_python
from .workspace import Workspace

_MUTATORS = {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem", "remove", "clear",
             "discard", "sort", "reverse"}


def _mutable(node: ast.AST | None) -> bool:
    if isinstance(node, (ast.List, ast.Dict, ast.Set)):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("list", "dict", "set")
            and not node.args and not node.keywords)


def _kept_or_changed(fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    """The function stores parameter `name` on an object or changes it in place."""
    def is_param(n: ast.AST) -> bool:
        return isinstance(n, ast.Name) and n.id == name

    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and is_param(node.value) and any(
                isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets):
            return True  # self.items = items
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS \
                and is_param(node.func.value):
            return True  # items.append(x)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and is_param(t.value) for t in targets):
                return True  # items[k] = v
            if isinstance(node, ast.AugAssign) and is_param(node.target):
                return True  # items += [x]
    return False


def _shared(tree: ast.Module) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.arg, ast.expr]]:
    """(function, parameter, its default) for each mutable default the function keeps or changes."""
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = fn.args
        positional = a.posonlyargs + a.args
        pairs = list(zip(positional[len(positional) - len(a.defaults):], a.defaults))
        pairs += [(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        out += [(fn, arg, d) for arg, d in pairs if _mutable(d) and _kept_or_changed(fn, arg.arg)]
    return out


def _replace(lines: list[str], node: ast.AST, text: str) -> None:
    """Replace the source of `node` (on one line) with `text`."""
    i = node.lineno - 1
    lines[i] = lines[i][:node.col_offset] + text + lines[i][node.end_col_offset:]


def _body_start(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt | None:
    """The statement the new-object lines go before (the first after a docstring), or None when the
    body is on the def's own line or is a docstring alone (left to the model)."""
    first = fn.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    if docstring and len(fn.body) == 1:
        return None
    at = fn.body[1] if docstring else first
    return None if at.lineno == fn.lineno else at


def own_copies_of_mutable_defaults(ws: Workspace, changed: list[str]) -> list[str]:
    """Fix the changed files in place; one line per file changed."""
    notes = []
    for rel, text, tree in parsed_python(ws, changed):
        found = [f for f in _shared(tree) if f[2].lineno == f[2].end_lineno]  # a default on one line
        starts = [_body_start(fn) for fn, _, _ in found]
        if not found or None in starts:
            continue
        lines = text.splitlines(keepends=True)
        for _, _, default in sorted(found, key=lambda f: (f[2].lineno, f[2].col_offset), reverse=True):
            _replace(lines, default, "None")
        inserts: dict[int, list[str]] = {}  # line index -> lines to put before it
        for (_, arg, default), at in zip(found, starts):
            indent = " " * at.col_offset
            inserts.setdefault(at.lineno - 1, []).append(
                f"{indent}if {arg.arg} is None:\n{indent}    {arg.arg} = {ast.unparse(default)}\n")
        for i in sorted(inserts, reverse=True):
            lines[i:i] = inserts[i]
        new = "".join(lines)
        try:
            ast.parse(new)
        except SyntaxError:
            continue
        ws.write_text(rel, new)
        shown = ", ".join(f"{fn.name}({arg.arg}={ast.unparse(d)})" for fn, arg, d in found)
        notes.append(f"{rel}: a mutable default argument the function keeps or changes is shared by every call; "
                     f"each call now gets its own ({shown} -> None, then a new one)")
    return notes
