"""The agent's tools are not the program's functions.

Small models read the action format and then define the tools in the code they write (measured:
the 1.5B put ``def finish(summary): print(summary)`` into versions.py, the acceptance-test writer
saw `finish` among the file's names and tested it, and the coding model kept "fixing" it for the
rest of the run). After a turn's writes, a top-level function of a changed Python file named like
one of the tools that no program needs by that name (`LEAKED`: finish, write_file, read_file,
edit_file, list_files), undecorated, which the task does not name and nothing else in the
workspace uses, is removed, with top-level calls of it. `run` and `search` are left alone: plenty
of programs have their own. A file that would no longer parse is left alone.

Pages leak the other way: the 1.5B's snake game said ``alert('Game Over!'); finish('Game Over!');``
with no ``finish`` anywhere (measured: the README run at 1eeeef4 kept that ReferenceError through
two repair rounds, each turn copying the line back). In a changed page or script, a statement
that only calls one of `LEAKED` which no script of the workspace defines, and the task does not
name, is removed.
"""

from __future__ import annotations

import ast
import re

from .names import js_definition, parsed_python
from .workspace import Workspace

LEAKED = ("finish", "write_file", "read_file", "edit_file", "list_files")


def _calls(node: ast.stmt, name: str) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == name)


def _used_elsewhere(ws: Workspace, rel: str, name: str) -> bool:
    return any(p != rel for p, _, _ in ws.search(rf"\b{re.escape(name)}\b", glob="*.py"))


_SCRIPT_FILES = (".html", ".htm", ".js", ".mjs")
_CALL_LINE = r"^[ \t]*(?:window\.)?{name}\s*\([^;\n]*\)\s*;?[ \t]*(?:\n|$)"


def _defined_in_scripts(ws: Workspace, name: str) -> bool:
    return any(ws.search(js_definition(name), glob=f"*{ext}") for ext in _SCRIPT_FILES)


def drop_tool_calls_from_scripts(ws: Workspace, changed: list[str], task: str) -> list[str]:
    """Remove statements that only call an undefined agent action from changed pages and scripts."""
    notes = []
    for rel in dict.fromkeys(changed):
        if not rel.lower().endswith(_SCRIPT_FILES):
            continue
        try:
            text = (ws.root / rel).read_text()
        except (OSError, UnicodeDecodeError):
            continue
        new = text
        for name in LEAKED:
            call = re.compile(_CALL_LINE.format(name=name), re.M)
            # (the workspace is searched only for a name the file calls: this runs after every turn)
            if not call.search(new) or re.search(rf"\b{name}\b", task) or _defined_in_scripts(ws, name):
                continue
            new, n = call.subn("", new)
            if n:
                notes.append(f"{rel}: removed {n} call(s) of `{name}()`, which is one of the agent's actions, "
                             "not a function of the page")
        if new != text:
            ws.write_text(rel, new)
    return notes


def drop_tool_functions(ws: Workspace, changed: list[str], task: str) -> list[str]:
    """Remove leaked tool functions in place (and, in pages and scripts, bare calls of undefined
    ones: `drop_tool_calls_from_scripts`); one note per function or page changed."""
    notes = drop_tool_calls_from_scripts(ws, changed, task)
    for rel, text, tree in parsed_python(ws, changed):
        for name in LEAKED:
            fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name and not n.decorator_list]
            if len(fns) != 1 or re.search(rf"\b{re.escape(name)}\b", task) or _used_elsewhere(ws, rel, name):
                continue
            drop = [fns[0]] + [s for s in tree.body if _calls(s, name)]
            if any(isinstance(n, ast.Name) and n.id == name for s in tree.body if s not in drop for n in ast.walk(s)):
                continue  # used in the program itself
            lines = text.splitlines(keepends=True)
            for s in sorted(drop, key=lambda s: s.lineno, reverse=True):
                del lines[s.lineno - 1:s.end_lineno]
            new = "".join(lines).rstrip() + "\n"
            try:
                new_tree = ast.parse(new)
            except SyntaxError:
                continue
            if not new_tree.body:
                continue  # nothing would be left: it was not a leak but the program
            ws.write_text(rel, new)
            text, tree = new, new_tree  # positions are read afresh for the next name
            notes.append(f"{rel}: removed `{name}()`, which is one of the agent's actions, not part of the program")
    return notes
