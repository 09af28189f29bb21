"""The agent's tools are not the program's functions.

Small models read the action format and then define the tools in the code they write (measured:
the 1.5B put ``def finish(summary): print(summary)`` into versions.py, the acceptance-test writer
saw `finish` among the file's names and tested it, and the coding model kept "fixing" it for the
rest of the run). After a turn's writes, a top-level function of a changed Python file that is
named like one of our tools (`actions.TOOL_NAMES`), which the task does not name and nothing else
in the file uses, is removed, with top-level calls of it. A file that would no longer parse is
left alone.
"""

from __future__ import annotations

import ast
import re

from .actions import TOOL_NAMES
from .names import parsed_python
from .workspace import Workspace


def _calls(node: ast.stmt, name: str) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == name)


def drop_tool_functions(ws: Workspace, changed: list[str], task: str) -> list[str]:
    """Remove leaked tool functions in place; one note per file changed."""
    notes = []
    for rel, text, tree in parsed_python(ws, changed):
        leaked = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in TOOL_NAMES
                  and not re.search(rf"\b{re.escape(n.name)}\b", task)]
        for fn in leaked:
            drop = [fn] + [s for s in tree.body if _calls(s, fn.name)]
            others = [n for s in tree.body if s not in drop for n in ast.walk(s)
                      if isinstance(n, ast.Name) and n.id == fn.name]
            if others:
                continue
            lines = text.splitlines(keepends=True)
            for s in sorted(drop, key=lambda s: s.lineno, reverse=True):
                start = min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])]) - 1
                del lines[start:s.end_lineno]
            new = "".join(lines).rstrip() + "\n"
            try:
                ast.parse(new)
            except SyntaxError:
                continue
            ws.write_text(rel, new)
            text, tree = new, ast.parse(new)
            notes.append(f"{rel}: removed `{fn.name}()`, which is one of the agent's actions, not part of the program")
    return notes
