"""Finish a rename the task states, without a model.

"Rename calc_total to compute_total everywhere" is a mechanical change, and small models do it
by halves (measured: the 1.5B renamed the definition and some calls, left `calc_total` in
report.py, and spent eight turns on it). After a turn's writes, for each rename the task states
(`names.renames_in`), every whole-word occurrence of the old name left in the workspace's text
files (code, comments, strings, as "everywhere" asks) becomes the new name, and an alias line
that the rename turned into ``new = new`` is dropped. A Python file that would no longer parse is
left alone. The `RenameGone` verifier still checks the result.
"""

from __future__ import annotations

import ast
import re

from .names import renames_in
from .workspace import Workspace


def apply_renames(text: str, renames: list[tuple[str, str]]) -> str:
    """`text` with every whole-word old name of `renames` replaced by its new one."""
    for old, new in renames:
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def finish_renames(ws: Workspace, task: str) -> list[tuple[str, str]]:
    """Rename in place; (path, note) per file changed."""
    notes = []
    for old, new in renames_in(task):
        word = re.compile(rf"\b{re.escape(old)}\b")
        alias = re.compile(rf"^\s*{re.escape(new)}\s*=\s*{re.escape(new)}\s*(#.*)?$")
        for rel in sorted({p for p, _, _ in ws.search(word.pattern)}):
            text = (ws.root / rel).read_text()
            lines = [ln for ln in word.sub(new, text).splitlines(keepends=True) if not alias.match(ln)]
            out = "".join(lines)
            if rel.endswith(".py"):
                try:
                    ast.parse(out)
                except SyntaxError:
                    continue
            ws.write_text(rel, out)
            notes.append((rel, f"{rel}: renamed {len(word.findall(text))} leftover `{old}` to `{new}` (the task's rename)"))
    return notes
