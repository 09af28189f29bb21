"""Tests taken word for word from the task statement, with no model involved.

Users state examples in code: ``encode("aaabccdddd") == "3a1b2c4d"``, ``median([4, 1, 3, 2])
returns 3 but should return 2.5``, ```python convert.py c2f 100` prints 212.0``. `stated_examples` finds
them, keeps those whose calls name public functions or classes now in the workspace and whose
expected value is a literal, and writes one pytest test per example. They are the most reliable
acceptance tests there are — the user's own words — so they are never reviewed or rewritten.

What is not taken: an example of what the code does *wrong* ("returns 3 but should return
2.5": only 2.5 is taken), calls on objects that need setting up first (``a.add(x)``), and
values that are not literals.
"""

from __future__ import annotations

import ast
import re
import shlex

from .names import python_names
from .workspace import Workspace

_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
_BUILTINS = {"list", "range", "tuple", "dict", "set", "str", "int", "float", "len", "sorted"}
_EQUALS = re.compile(r"\s*==\s*")
_SHOULD = re.compile(r"\b(?:should|must)\s+(?:return|give|be)\s+")
_PROGRAM = re.compile(r"`(?:python3?\s+)(\S+\.py)((?:\s+[^`]*)?)`\s+(?:prints|outputs|shows)\s+(`[^`]*`|\"[^\"]*\"|\S+)")


def stated_examples(task: str, ws: Workspace) -> str:
    """Pytest source with one test per example stated in `task` ("" when there is none)."""
    names = {n.qualname: n.path for n in python_names(ws) if "." not in n.qualname}
    files = set(ws.list_files())
    asserts: list[str] = []
    imports: dict[str, set[str]] = {}
    for call, expected in _calls(task):
        tree = ast.parse(call, mode="eval").body
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        ours = used & set(names)
        if not tree.args and not tree.keywords:
            continue  # "like mean(), it should ...": a name in prose, not an example
        if not ours or not used <= set(names) | _BUILTINS:
            continue
        for name in ours:
            imports.setdefault(names[name][:-3].replace("/", "."), set()).add(name)
        value = ast.literal_eval(expected)
        rhs = f"pytest.approx({expected})" if isinstance(value, float) else expected
        asserts.append(f"assert {call} == {rhs}")
    for path, args, out in _programs(task):
        if path in files:
            asserts.append(f"r = subprocess.run([sys.executable, {path!r}, *{shlex.split(args)!r}], "
                           f"capture_output=True, text=True, timeout=30)\n    assert r.stdout.strip() == {out!r}, "
                           f"(r.stdout, r.stderr)")
    if not asserts:
        return ""
    head = "".join(f"from {mod} import {', '.join(sorted(ns))}\n" for mod, ns in sorted(imports.items()))
    tests = "".join(f"\n\ndef test_stated_example_{i}():\n    {a}\n" for i, a in enumerate(dict.fromkeys(asserts), 1))
    return head + tests


def _calls(task: str):
    """(call source, expected literal source) for each `call == value`, and for each "call ...
    should return value" (what the code returns today is not taken: it may be the bug)."""
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z(`])|\n", task):
        starts = [m.start() for m in _CALL_START.finditer(sentence)]
        for i, start in enumerate(starts):
            call = _longest_expr(sentence, start, stop=lambda e: isinstance(e, ast.Call))
            if call is None:
                continue
            after = start + len(call)
            rest = sentence[after:starts[i + 1] if i + 1 < len(starts) and starts[i + 1] > after else len(sentence)]
            link = _EQUALS.match(rest) or _SHOULD.search(rest)
            if not link or not _same_clause(rest[:link.start()]):
                continue
            expected = _longest_expr(rest, link.end(), stop=_is_literal)
            if expected is not None:
                yield call, expected


def _same_clause(between: str) -> bool:
    """The words between a call and its "should return" belong to it: a few words, no comma
    outside brackets ("returns 3 but should return 2.5", not "returns [3], but pages start at 1,
    so page 1 should be [0]")."""
    flat = re.sub(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}|\"[^\"]*\"|'[^']*'", "x", between)
    return "," not in flat and ";" not in flat and len(flat.split()) <= 8


def _longest_expr(text: str, start: int, stop) -> str | None:
    """The longest piece of `text` from `start` that parses as an expression satisfying `stop`."""
    best = None
    for end in range(start + 1, min(len(text), start + 300) + 1):
        piece = text[start:end].strip().rstrip(".,;")
        if not piece or piece[-1] not in ")]}'\"0123456789eEoO":  # cheap filter before parsing
            continue
        try:
            node = ast.parse(piece, mode="eval").body
        except SyntaxError:
            continue
        if stop(node):
            best = piece
    return best


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _programs(task: str):
    """(file, arguments, expected output) for each "`python file.py args` prints X"."""
    for m in _PROGRAM.finditer(task):
        out = m.group(3).strip("`\"")
        if m.group(3)[0] not in "`\"":  # unquoted: only a number counts ("prints the sum" does not)
            out = out.rstrip(".,;:)")
            if not re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", out):
                continue
        if out:
            yield m.group(1), m.group(2).strip(), out
