"""Send a program's error message to stderr when it prints it right before a failing exit.

Command-line programs print errors on stderr (the system prompt says so, and tests check it);
small models write ``print("Error: …")`` and then ``sys.exit(2)`` (measured: a converter that was
right in everything else printed its "missing subcommand" error on stdout through six turns and
two fresh starts, each shown the failing test). After a turn's writes, every changed Python file is
read with `ast`: a ``print(...)`` without ``file=`` whose next statement in the same block is
``sys.exit(n)`` / ``exit(n)`` with n a non-zero number or a message, gets ``file=sys.stderr``
(and ``import sys`` if the file has none). The edit is textual, at the call's closing bracket, so
the rest of the file is untouched; anything else is left to the model and the tests.
"""

from __future__ import annotations

import ast

from .names import parsed_python
from .workspace import Workspace


def _failing_exit(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    f = stmt.value.func
    named = (isinstance(f, ast.Attribute) and f.attr == "exit" and isinstance(f.value, ast.Name)
             and f.value.id == "sys") or (isinstance(f, ast.Name) and f.id in ("exit", "quit"))
    if not named or len(stmt.value.args) != 1:
        return False
    code = stmt.value.args[0]
    if isinstance(code, ast.UnaryOp) and isinstance(code.operand, ast.Constant):  # sys.exit(-1)
        return True
    return isinstance(code, ast.Constant) and code.value not in (0, None, False)  # a status or a message


def _to_fix(tree: ast.Module) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for a, b in zip(block, block[1:]):
                if isinstance(a, ast.Expr) and isinstance(a.value, ast.Call) and isinstance(a.value.func, ast.Name) \
                        and a.value.func.id == "print" and not any(k.arg == "file" for k in a.value.keywords) \
                        and _failing_exit(b):
                    calls.append(a.value)
    return calls


def _with_import_sys(tree: ast.Module, text: str) -> str:
    """`text` with ``import sys`` after its docstring and ``from __future__`` imports."""
    at = 0
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if (docstring and node is tree.body[0]) or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            at = node.end_lineno
        else:
            break
    lines = text.splitlines(keepends=True)
    if at == 0 and lines and lines[0].startswith("#!"):
        at = 1
    return "".join(lines[:at] + ["import sys\n"] + lines[at:])


def errors_to_stderr(ws: Workspace, changed: list[str]) -> list[str]:
    """Fix the changed files in place; one line per file changed."""
    notes = []
    for rel, text, tree in parsed_python(ws, changed):
        calls = _to_fix(tree)
        if not calls:
            continue
        lines = text.splitlines(keepends=True)
        for call in sorted(calls, key=lambda c: (c.end_lineno, c.end_col_offset), reverse=True):
            i, col = call.end_lineno - 1, call.end_col_offset - 1  # the closing bracket
            line = lines[i]
            if line[col:col + 1] != ")":
                continue
            sep = "" if line[:col].rstrip().endswith("(") else ", "
            lines[i] = line[:col] + f"{sep}file=sys.stderr" + line[col:]
        new = "".join(lines)
        has_sys = any(isinstance(n, ast.Import) and any(a.name == "sys" and not a.asname for a in n.names)
                      for n in tree.body)
        if not has_sys:
            new = _with_import_sys(tree, new)
        try:
            ast.parse(new)
        except SyntaxError:
            continue
        ws.write_text(rel, new)
        notes.append(f"{rel}: the error message printed before a failing exit now goes to stderr "
                     f"({len(calls)} print{'s' if len(calls) > 1 else ''} got file=sys.stderr)")
    return notes
