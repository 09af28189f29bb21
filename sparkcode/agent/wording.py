"""Tests may not demand wording the task never gave.

Asked to test "print an error and exit with status 2", a small model writes
``assert result.stderr.strip() == "Invalid input. Please provide a number."`` — a sentence it made
up, which no correct program prints (measured: a converter that exited 2 with argparse's own
message failed three such tests, the reviewer kept them, and the run gave up). Before the tests
are used, each such demand is relaxed to what the task does say, that there is a message:

- ``X == "made-up sentence"`` / ``"made-up sentence" == X`` / ``"made-up sentence" in X`` -> ``X``
  (not empty), ``!=`` / ``not in`` -> ``True``;
- ``pytest.raises(E, match="made-up sentence")`` -> ``pytest.raises(E)``.

And a test may not demand an error the task never mentions: when the statement has no word of
failure at all (raise, error, exception, invalid, reject, fail, malformed…) and does not name the
exception, a ``with pytest.raises(E):`` block is dropped, and a test left with nothing to check
goes (measured: ``count_words("")`` demanded to raise ValueError, for a word counter whose task
says nothing of errors; the reviewer kept it and the model was driven away from the fix).

A text compared with a stripped one (``r.stdout.strip() == "a\\nb\\n"``) is stripped the same way:
as written, no output passes it.

A string is *made up* when it reads as a sentence (three or more words of letters, capitalised,
ending in punctuation or holding a word such as "the", "must", "invalid"; or two words, one of
them an error word: "Invalid subcommand") and, compared
without case, punctuation or spacing, is not part of the task statement. Values (numbers,
single words, data the task quotes) are never touched.
"""

from __future__ import annotations

import ast
import re

_WORD = re.compile(r"[A-Za-z]+")


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_SENTENCE = {"the", "is", "are", "be", "not", "must", "should", "cannot", "please", "to", "of", "an", "no",
             "error", "invalid", "unknown", "missing"}


_ERRORISH = {"error", "invalid", "unknown", "missing", "not", "cannot", "must", "failed", "no", "bad", "wrong"}


def _prose(value: object) -> bool:
    """Three or more words of letters that read as a sentence: capitalised, ending in punctuation
    or holding a word sentences (and error messages) are made of — not data such as "a b c"; or
    two words of an error message ("Invalid subcommand", "missing value": measured, a converter
    that exited 2 with argparse's message failed three such tests until the run timed out)."""
    if not isinstance(value, str):
        return False
    words = [w.strip(".,:;!?'\"()") for w in value.split()]
    need = 2 if any(w.lower() in _ERRORISH for w in words) else 3
    if sum(bool(_WORD.fullmatch(w)) for w in words) < need:
        return False
    text = value.strip()
    return text[:1].isupper() or text[-1:] in ".!:" or any(w.lower() in _SENTENCE for w in words)


def made_up(value: object, task: str) -> bool:
    """A prose string the task statement does not contain."""
    return _prose(value) and _norm(value) not in _norm(task)


class _Relax(ast.NodeTransformer):
    def __init__(self, task: str):
        self.task = task
        self.relaxed: list[str] = []

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        left, op, right = node.left, node.ops[0], node.comparators[0]
        for lit, other in ((right, left), (left, right)):
            if isinstance(lit, ast.Constant) and made_up(lit.value, self.task):
                if isinstance(op, (ast.NotEq, ast.NotIn)):
                    return self._note(lit.value, ast.Constant(True))
                if isinstance(op, ast.Eq) or (isinstance(op, ast.In) and lit is left):
                    return self._note(lit.value, other)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        keep = []
        for kw in node.keywords:
            if kw.arg == "match" and isinstance(kw.value, ast.Constant) and made_up(kw.value.value, self.task):
                self._note(kw.value.value, None)
                continue
            keep.append(kw)
        node.keywords = keep
        return node

    def _note(self, text: str, replacement):
        self.relaxed.append(text)
        return replacement


def relax_made_up_wording(source: str, task: str) -> tuple[str, list[str]]:
    """(the tests with made-up wording relaxed, the made-up strings); the source unchanged when
    it does not parse or nothing was made up."""
    relax = _Relax(task)
    return _rewrite(source, relax, lambda: relax.relaxed)


class _StrippedExpected(ast.NodeTransformer):
    """`x.strip() == "a\\nb\\n"`: a stripped text never ends (or starts) in whitespace, so the
    expected text is stripped the same way."""

    def __init__(self):
        self.fixed: list[str] = []

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return node
        sides = [node.left, node.comparators[0]]
        for i, (lit, other) in enumerate(((sides[1], sides[0]), (sides[0], sides[1]))):
            strip = other.func.attr if isinstance(other, ast.Call) and isinstance(other.func, ast.Attribute) \
                and other.func.attr in ("strip", "rstrip", "lstrip") and not other.args and not other.keywords else None
            if strip and isinstance(lit, ast.Constant) and isinstance(lit.value, str):
                new = getattr(lit.value, strip)()
                if new != lit.value:
                    self.fixed.append(lit.value)
                    lit.value = new
        return node


def strip_expected_of_stripped(source: str) -> tuple[str, list[str]]:
    """(the tests with each text compared with a stripped one stripped too, those texts) — measured:
    `r.stdout.strip() == "a\\nb\\n"` in four of eight tests of sortlines.py, which no program passes."""
    fix = _StrippedExpected()
    return _rewrite(source, fix, lambda: fix.fixed)


def _rewrite(source: str, transformer: ast.NodeTransformer, found) -> tuple[str, list[str]]:
    """Run `transformer` over the parsed tests: (the new source, `found()`), or the source unchanged
    with [] when it does not parse or `found()` is empty."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, []
    tree = ast.fix_missing_locations(transformer.visit(tree))
    if not found():
        return source, []
    return ast.unparse(tree) + "\n", found()


_FAILURE_WORDS = re.compile(r"\b(?:rais\w*|errors?|exceptions?|invalid|reject\w*|fail\w*|malformed|bad|wrong "
                            r"input|refus\w*|exit\w*|status|throws?|illegal|not allowed|must not)\b", re.I)


def raises_of(item: ast.withitem) -> list[str]:
    """The exception names a `with pytest.raises(...)` item names (`subprocess.CalledProcessError` -> its
    last part); [] for any other item."""
    call = item.context_expr
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "raises"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == "pytest" and call.args):
        return []
    kinds = call.args[0].elts if isinstance(call.args[0], ast.Tuple) else [call.args[0]]
    return [k.id if isinstance(k, ast.Name) else k.attr if isinstance(k, ast.Attribute) else "?" for k in kinds]


class _DropChecks(ast.NodeTransformer):
    """Drops each `with pytest.raises(...)` that `raises(node, kinds)` judges and each `assert` that
    `asserts(node)` names a reason for (a str), and a test left empty."""

    def __init__(self, raises=lambda node, kinds: False, asserts=lambda node: None):
        self.raises, self.asserts = raises, asserts
        self.dropped: list[str] = []

    def visit_With(self, node: ast.With) -> ast.AST | None:
        node = self._emptied(node)
        kinds = [k for item in node.items for k in raises_of(item)] if node else []
        if kinds and self.raises(node, kinds):
            self.dropped.append("/".join(kinds))
            return None
        return node

    def _emptied(self, node: ast.AST) -> ast.AST | None:
        """A block whose every statement was dropped goes too (its `else`, if any, stays)."""
        self.generic_visit(node)
        if node.body:
            return node
        if getattr(node, "orelse", None):
            node.body = [ast.Pass()]
            return node
        return None

    visit_For = visit_While = visit_If = visit_Try = _emptied

    def visit_Assert(self, node: ast.Assert) -> ast.AST | None:
        why = self.asserts(node)
        if why:
            self.dropped.append(why)
            return None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST | None:
        self.generic_visit(node)
        if not node.body:  # every check it had was dropped
            return None
        return node


def drop_checks(source: str, raises=lambda node, kinds: False, asserts=lambda node: None) -> tuple[str, list[str]]:
    """(the tests without the `pytest.raises` blocks `raises(node, kinds)` judges and the asserts
    `asserts(node)` gives a reason for, the exceptions and reasons dropped); the source unchanged
    when it does not parse or nothing was dropped."""
    dropper = _DropChecks(raises=raises, asserts=asserts)
    return _rewrite(source, dropper, lambda: dropper.dropped)


def drop_raises(source: str, drop) -> tuple[str, list[str]]:
    """`drop_checks` of `pytest.raises` blocks only."""
    return drop_checks(source, raises=drop)


def drop_asserts(source: str, why) -> tuple[str, list[str]]:
    """`drop_checks` of asserts only."""
    return drop_checks(source, asserts=why)


def drop_made_up_raises(source: str, task: str) -> tuple[str, list[str]]:
    """(the tests without the error demands a task that never speaks of failure cannot make, the
    exceptions dropped); the source unchanged when the task speaks of failure, it does not parse
    or nothing was dropped."""
    if _FAILURE_WORDS.search(task):
        return source, []
    return drop_raises(source, lambda node, kinds: not any(re.search(rf"\b{re.escape(k)}\b", task) for k in kinds))
