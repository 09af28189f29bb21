"""Finish a rename the task states, without a model.

"Rename calc_total to compute_total everywhere" is a mechanical change, and small models do it
by halves (measured: the 1.5B renamed the definition and some calls, left `calc_total` in
report.py, and spent eight turns on it). After a turn's writes, for each rename the task states
(`names.renames_in`), every whole-word occurrence of the old name left in the workspace's text
files (code, comments, strings, as "everywhere" asks) becomes the new name, and an alias line
that the rename turned into ``new = new`` is dropped. A Python file that would no longer parse is
left alone. Only identifiers are renamed so (snake_case, camelCase or with digits: `calc_total`,
not a plain word like `data`, which would hit `response.data` and file names too), and not when
the task keeps the old name as an alias. The `RenameGone` verifier still checks the result.
"""

from __future__ import annotations

import ast
import re

from .names import _code_like, renames_in
from .workspace import ToolError, Workspace


def apply_renames(text: str, renames: list[tuple[str, str]]) -> str:
    """`text` with every whole-word old name of `renames` replaced by its new one."""
    for old, new in renames:
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def finish_renames(ws: Workspace, task: str) -> list[tuple[str, str]]:
    """Rename in place; (path, note) per file changed."""
    notes = []
    if re.search(r"\balias", task, re.I):
        return notes
    for old, new in renames_in(task):
        if not _code_like(old):
            continue
        word = re.compile(rf"\b{re.escape(old)}\b")
        alias = re.compile(rf"^\s*{re.escape(new)}\s*=\s*{re.escape(new)}\s*(#.*)?$")
        for rel in sorted({p for p, _, _ in ws.search(word.pattern)}):
            try:
                text = (ws.root / rel).read_text()
            except (OSError, UnicodeDecodeError):
                continue
            renamed = apply_renames(text, [(old, new)])
            lines = [ln for ln in renamed.splitlines(keepends=True) if not alias.match(ln)]
            out = "".join(lines)
            if rel.endswith(".py"):
                try:
                    ast.parse(out)
                except SyntaxError:
                    continue
            try:
                ws.write_text(rel, out)
            except ToolError:
                continue
            notes.append((rel, f"{rel}: renamed {len(word.findall(text))} leftover `{old}` to `{new}` (the task's rename)"))
    return notes
