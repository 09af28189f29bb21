"""Keep what a whole-file rewrite left out.

Small models asked to change one function of a file often write the file back with only the
functions they thought about: the others are silently gone (measured: a stub class rewritten
without its `quantity` method, four turns in a row, each flagged and each repeated). A rewrite
of an existing Python file is therefore merged with what it replaces: every public function,
class and method of the old text that the new text neither defines nor imports comes back,
placed after its old neighbour, unless the caller's `may_drop(name)` says the task asked for it
to go; and a program's ``if __name__ == "__main__":`` block comes back at the end when the new
text has none and runs nothing at the top level (measured: sortlines.py rewritten with its new
options and without its entry point printed nothing, failing every test). Nothing is merged when
either text does not parse; the API guard still judges the result.
"""

from __future__ import annotations

import ast
from typing import Callable

_Def = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _span(node: ast.AST) -> tuple[int, int]:
    """0-based first line (its decorators included) and end line (exclusive) of a definition."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first - 1, node.end_lineno


def _defined(tree: ast.Module) -> set[str]:
    """Every name the module defines at any depth or imports: a name found here was not dropped."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, _Def):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(lines: list[str], old: str, new: str) -> list[str]:
    if old == new:
        return lines
    return [new + ln[len(old):] if ln.startswith(old) else ln for ln in lines]


def _insert_at(body: list[ast.stmt], present: dict[str, ast.AST], old_order: list[str], name: str,
               fallback: int) -> int:
    """0-based line in the new text where the old definition `name` goes: after the nearest
    earlier old sibling still present, else before the nearest later one, else `fallback`."""
    i = old_order.index(name)
    for prev in reversed(old_order[:i]):
        if prev in present:
            return _span(present[prev])[1]
    for nxt in old_order[i + 1:]:
        if nxt in present:
            return _span(present[nxt])[0]
    return fallback


def _main_guard(tree: ast.Module) -> ast.If | None:
    return next((n for n in tree.body if isinstance(n, ast.If) and "__name__" in ast.unparse(n.test)), None)


def _runs_at_top_level(tree: ast.Module) -> bool:
    """The module calls something at import (`main()` without a guard): it runs on its own."""
    return any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) for n in tree.body)


def _main_guard_line(tree: ast.Module, n_lines: int) -> int:
    """Where top-level code ends: before a trailing ``if __name__ == "__main__":`` block."""
    guard = _main_guard(tree)
    return _span(guard)[0] if guard is not None else n_lines


def restore_dropped(old: str, new: str, may_drop: Callable[[str], bool] = lambda name: False
                    ) -> tuple[str, list[str]]:
    """(`new` with the dropped public definitions of `old` put back, their qualified names)."""
    try:
        old_tree, new_tree = ast.parse(old), ast.parse(new)
    except (SyntaxError, ValueError):
        return new, []
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    if new_lines and not new_lines[-1].endswith("\n"):
        new_lines[-1] += "\n"
    defined = _defined(new_tree)
    inserts: list[tuple[int, list[str]]] = []  # (line in new, lines to insert)
    kept: list[str] = []

    old_top = {n.name: n for n in old_tree.body if isinstance(n, _Def)}
    new_top = {n.name: n for n in new_tree.body if isinstance(n, _Def)}
    order = [n.name for n in old_tree.body if isinstance(n, _Def)]
    end_of_code = _main_guard_line(new_tree, len(new_lines))
    for name, node in old_top.items():
        if name in new_top:
            if isinstance(node, ast.ClassDef) and isinstance(new_top[name], ast.ClassDef):
                kept += _restore_methods(node, new_top[name], old_lines, new_lines, may_drop, inserts)
            continue
        if not _public(name) or name in defined or may_drop(name):
            continue
        a, b = _span(node)
        at = _insert_at(new_tree.body, new_top, order, name, end_of_code)
        after = ["\n"] if at < len(new_lines) else []
        inserts.append((at, ["\n", "\n"] + old_lines[a:b] + after))
        kept.append(name)
    guard = _main_guard(old_tree)
    if guard is not None and _main_guard(new_tree) is None and not _runs_at_top_level(new_tree):
        a, b = _span(guard)  # a program rewritten without its entry point would do nothing when run
        inserts.append((len(new_lines), ["\n", "\n"] + old_lines[a:b]))
        kept.append("the `if __name__ == \"__main__\":` block")
    if not inserts:
        return new, []
    # from the bottom up, so earlier line numbers stay right; at one place, in the old order
    for _, at, lines in sorted(((i, at, lines) for i, (at, lines) in enumerate(inserts)),
                               key=lambda x: (x[1], x[0]), reverse=True):
        new_lines[at:at] = [ln if ln.endswith("\n") else ln + "\n" for ln in lines]
    return "".join(new_lines), kept


def _restore_methods(old_cls: ast.ClassDef, new_cls: ast.ClassDef, old_lines: list[str], new_lines: list[str],
                     may_drop: Callable[[str], bool], inserts: list) -> list[str]:
    old_m = {n.name: n for n in old_cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    new_m = {n.name: n for n in new_cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    new_attrs = {t.id for n in new_cls.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    order = list(old_m)
    kept = []
    for name, node in old_m.items():
        if name in new_m or name in new_attrs or not _public(name) or may_drop(name):
            continue
        a, b = _span(node)
        lines = old_lines[a:b]
        old_indent = _indent_of(old_lines[node.lineno - 1])
        ref = new_cls.body[0]
        new_indent = _indent_of(new_lines[ref.lineno - 1])
        at = _insert_at(new_cls.body, new_m, order, name, _span(new_cls)[1])
        inserts.append((at, ["\n"] + _reindent(lines, old_indent, new_indent)))
        kept.append(f"{old_cls.name}.{name}")
    return kept
