"""Acceptance tests may not demand wording the task never gave (agent/wording.py)."""

from __future__ import annotations

import ast

from sparkcode.agent.wording import made_up, relax_made_up_wording, strip_expected_of_stripped

TASK = ("Write convert.py: `python convert.py c2f 100` prints 212.0. If the value isn't a number, print an "
        "error and exit with status 2. An empty list raises ValueError('no values given').")

TESTS = '''import subprocess, pytest
from stats import mean


def test_bad_value():
    r = subprocess.run(["python", "convert.py", "c2f", "abc"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "Invalid input. Please provide a number."
    assert "Please give a number" in r.stderr
    assert r.stdout != "Something went very wrong"


def test_values_and_stated_wording_stay():
    assert subprocess.run(["python", "convert.py", "c2f", "100"], capture_output=True, text=True).stdout.strip() == "212.0"
    with pytest.raises(ValueError, match="no values given"):
        mean([])
    assert " ".join(["a", "b", "c"]) == "a b c"


def test_made_up_match():
    with pytest.raises(ValueError, match="The list must not be empty"):
        mean([])
'''


def test_made_up_means_prose_the_task_does_not_contain():
    assert made_up("Invalid input. Please provide a number.", TASK)
    assert not made_up("No values given!", TASK)  # the task says it (case and punctuation aside)
    assert not made_up("212.0", TASK) and not made_up("a b c", TASK) and not made_up("error", TASK)
    assert not made_up(3, TASK)
    assert made_up("Invalid subcommand", TASK) and made_up("missing value", TASK)  # two words of an error
    assert not made_up("hello world", TASK) and not made_up("No values", TASK)  # data; or the task's words


def test_made_up_wording_is_relaxed_and_everything_else_kept():
    out, relaxed = relax_made_up_wording(TESTS, TASK)
    assert relaxed == ["Invalid input. Please provide a number.", "Please give a number",
                       "Something went very wrong", "The list must not be empty"]
    tree = ast.parse(out)
    bad, kept, match = (next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
                        for name in ("test_bad_value", "test_values_and_stated_wording_stay", "test_made_up_match"))
    src = ast.unparse(bad)
    assert "r.returncode == 2" in src and "assert r.stderr.strip()\n" in src + "\n"
    assert "assert r.stderr\n" in src + "\n" and "assert True" in src
    assert "== '212.0'" in ast.unparse(kept) and "match='no values given'" in ast.unparse(kept)
    assert "== 'a b c'" in ast.unparse(kept)
    assert "pytest.raises(ValueError)" in ast.unparse(match)


def test_tests_without_made_up_wording_are_left_as_written():
    src = "def test_x():\n    assert f(1) == 2  # a comment survives\n"
    assert relax_made_up_wording(src, TASK) == (src, [])
    assert relax_made_up_wording("def (:", TASK) == ("def (:", [])


def test_a_text_compared_with_a_stripped_output_is_stripped_too():
    """Measured: `r.stdout.strip() == "a\\nb\\n"` in four of eight tests of sortlines.py: no output passes it."""
    source = ('def test_sorted(r):\n    assert r.stdout.strip() == "a\\nb\\n"\n    assert "  x" != r.stderr.rstrip()\n'
              '    assert r.stdout != "a\\n"\n    assert r.stdout.strip() != "ok"\n')
    fixed, texts = strip_expected_of_stripped(source)
    assert texts == ["a\nb\n"]
    values = [n.value for n in ast.walk(ast.parse(fixed)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert values == ["a\nb", "  x", "a\n", "ok"]  # only the text a stripped output is held to changed

    class Run:
        stdout, stderr = "a\nb\n", ""

    before, after = {}, {}
    exec(source, before)
    exec(fixed, after)
    with __import__("pytest").raises(AssertionError):
        before["test_sorted"](Run)
    after["test_sorted"](Run)  # the right output passes
    assert strip_expected_of_stripped(fixed) == (fixed, [])  # a second pass changes nothing
