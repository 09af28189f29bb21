"""The verify stage with a scripted model: done means a behavioural check ran and passed.

The scripted backend answers the agent's turns and the acceptance-test writer's generations in
the order they are asked for, so each test lists both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkcode.agent import browser_check, prompts
from sparkcode.agent.acceptance import TEST_FILE, TEST_FILE_OR_KEEP, TEST_PATH
from sparkcode.agent.loop import Agent, AgentConfig
from sparkcode.agent.stuck import RepetitionGuard
from sparkcode.agent.tools import Toolbox
from sparkcode.agent.verify import renames_in
from sparkcode.agent.workspace import Workspace
from sparkcode.backends.scripted import ScriptedBackend

TASK = "Write stats.py with mean(xs) that returns the average of a list; mean([]) must return 0."


def py(path: str, code: str) -> str:
    return f"FILE: {path}\n```python\n{code}```"


BUGGY = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")
FIXED = py("stats.py", "def mean(xs):\n    if not xs:\n        return 0\n    return sum(xs) / len(xs)\n")
TESTS = py("test_stats.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                            "def test_empty():\n    assert mean([]) == 0\n")


def make(tmp_path: Path, replies, files: dict[str, str] | None = None, **cfg):
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    for rel, text in (files or {}).items():
        (root / rel).write_text(text)
    backend = ScriptedBackend(replies)
    return Agent(backend, Workspace(root), AgentConfig(**cfg)), backend


def test_a_compile_only_pass_is_not_done_the_failing_acceptance_test_goes_back(tmp_path):
    a, backend = make(tmp_path, [BUGGY, TESTS, FIXED])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    assert len(out.turns) == 2
    # the test writer saw the task and the names, not the code
    writer = backend.requests[1].messages
    assert "mean([]) must return 0" in writer[-1]["content"] and "def mean(xs)" in writer[-1]["content"]
    assert "sum(xs)" not in writer[-1]["content"]
    # the failure went back to the coding model with pytest's report
    feedback = backend.requests[2].messages[-1]["content"]
    assert "acceptance tests" in feedback and "ZeroDivisionError" in feedback and "test_empty" in feedback
    assert (a.ws.root / TEST_PATH).is_file() and not (a.ws.root / "test_stats.py").exists()
    assert any(c["path"] == TEST_PATH and c["ok"] and c["behavioural"] for c in out.checks)
    assert out.turns[0].verify_tokens > 0
    # the writer's reply is held to the shape of a test file; the coding model's is free
    assert backend.requests[1].constraint is TEST_FILE
    assert backend.requests[0].constraint is None and backend.requests[2].constraint is None


def test_a_wrong_acceptance_test_is_reviewed_and_rewritten(tmp_path):
    wrong = py("t.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                       "def test_empty():\n    assert mean([]) is None\n")
    fixed_again = FIXED.replace("return 0\n", "return 0  # empty\n")
    review = py("t.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                        "def test_empty():\n    assert mean([]) == 0\n")
    a, backend = make(tmp_path, [FIXED, wrong, fixed_again, review])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    assert len(out.turns) == 2 and len(backend.requests) == 4
    assert "keep failing (test_empty)" in backend.requests[3].messages[-1]["content"]
    assert backend.requests[3].constraint is TEST_FILE_OR_KEEP  # a review may answer KEEP
    assert "assert mean([]) == 0" in (a.ws.root / TEST_PATH).read_text()
    assert "is None" not in (a.ws.root / TEST_PATH).read_text()


def test_a_test_still_failing_after_review_is_disputed_and_the_run_is_unverified_not_done(tmp_path):
    v = [BUGGY.replace("len(xs)\n", f"(len(xs) + 0 * {i})\n") for i in range(5)]  # versions that differ in code
    a, backend = make(tmp_path, [v[0], TESTS, v[1], "KEEP", v[2], v[3], v[4]], repair_rounds=5)
    out = a.run("Write stats.py with mean(xs), the average of a list, and 0 for an empty list.")
    assert out.status == "unverified", out.summary
    assert "test_empty" in out.summary and "may be wrong" in out.summary
    assert "def test_empty" in (a.ws.root / TEST_PATH).read_text()  # never dropped
    assert sum("KEEP" in r.messages[-1]["content"] for r in backend.requests) == 1  # reviewed once
    assert "kept the version" not in out.summary  # the version judged is the one left (it ran its tests)


BROKEN_TESTS = py("t.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                         "def test_empty(tmp_path):\n    folder = str(tmp_path)\n    data = folder / 'in.txt'\n"
                         "    assert mean([]) == 0\n")


def test_a_test_that_breaks_in_its_own_code_is_written_again_without_a_review(tmp_path):
    corrected = py("t.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                           "def test_empty():\n    assert mean([]) == 0\n")
    a, backend = make(tmp_path, [FIXED, BROKEN_TESTS, FIXED.replace("return 0\n", "return 0  # v1\n"), corrected])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    ask = backend.requests[3].messages[-1]["content"]
    assert "fail inside their own code (test_empty)" in ask and "unsupported operand" in ask and "KEEP" not in ask
    assert backend.requests[3].sampling.temperature > 0  # greedy would write the same broken line again
    assert "folder /" not in (a.ws.root / TEST_PATH).read_text()


def test_a_test_still_broken_after_its_rewrite_no_longer_blocks_and_the_run_is_unverified(tmp_path):
    v = [FIXED.replace("return 0\n", f"return 0 * {i}\n") for i in range(3)]
    a, backend = make(tmp_path, [v[0], BROKEN_TESTS, v[1], "KEEP", v[2]], repair_rounds=5)
    out = a.run(TASK)
    assert out.status == "unverified", out.summary
    assert "test_empty" in out.summary and len(out.turns) == 3  # not obeyed through the remaining rounds


def test_a_rewrite_that_changes_only_comments_is_the_same_code(tmp_path):
    commented = BUGGY.replace("def mean(xs):\n", "def mean(xs):\n    # the average of the list\n")
    a, backend = make(tmp_path, [BUGGY, TESTS, commented, "KEEP", FIXED], repair_rounds=3)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    told = backend.requests[4].messages[-1]["content"]
    assert "only comments or layout changed, the code is the same" in told
    assert "same code again" in told  # the stuck detector saw it too
    from sparkcode.agent.acceptance import fingerprint

    (tmp_path / "v").mkdir()
    ws = Workspace(tmp_path / "v")
    (tmp_path / "v" / "stats.py").write_text("def mean(xs):\n    return sum(xs) / len(xs)\n")
    before = fingerprint(ws)
    (tmp_path / "v" / "stats.py").write_text("def mean(xs):  # average\n\n    return sum(xs) / len(xs)\n")
    assert fingerprint(ws) == before  # not a new version of the code
    (tmp_path / "v" / "stats.py").write_text("def mean(xs):\n    return sum(xs) / max(len(xs), 1)\n")
    assert fingerprint(ws) != before


def test_code_that_raises_on_import_is_the_codes_fault_not_the_tests(tmp_path):
    raises = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n\n\nprint(mean([]))\n")
    raises_too = raises.replace("print(mean([]))", "print(mean([]) + 1)")
    a, backend = make(tmp_path, [raises, TESTS, raises_too, FIXED])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    assert len(backend.requests) == 4  # no second test writing after two failures: the tests were right
    told = backend.requests[2].messages[-1]["content"]
    assert "stats.py:5: in <module>" in told and "ZeroDivisionError" in told


def test_passing_tests_that_never_try_a_stated_value_leave_the_run_unverified(tmp_path):
    task = 'Write stats.py with mean(xs), the average of a list; mean([]) must return 0 and mean("abc") raises TypeError.'
    a, backend = make(tmp_path, [FIXED, TESTS, TESTS])  # the writer, asked to cover "abc", writes the same tests
    out = a.run(task)
    assert out.status == "unverified" and '"abc"' in out.summary, out.summary
    assert "never use these values" in backend.requests[2].messages[-1]["content"]


def test_values_the_task_s_own_examples_try_are_not_asked_of_the_writer_again(tmp_path):
    # measured (module-roman): test_stated.py already tried "" and "IIII", and the writer spent 50 s adding them
    task = 'Write stats.py with mean(xs), the average of a list; mean([]) returns 0. It raises ValueError for "abc".'
    code = py("stats.py", "def mean(xs):\n    if isinstance(xs, str):\n        raise ValueError(xs)\n"
                          "    return sum(xs) / len(xs) if xs else 0\n")
    a, backend = make(tmp_path, [code, TESTS, "done"])  # the writer's tests never use "abc"
    out = a.run(task)
    stated = (a.ws.root / ".sparkcode/acceptance/test_stated.py").read_text()
    assert 'mean("abc")' in stated and "ValueError" in stated  # the task's example is a test of its own
    assert out.status == "done", out.summary
    assert not any("never use these values" in r.messages[-1]["content"] for r in backend.requests)
    assert len(backend.requests) == 2  # the turn and the writer: no third generation


def test_a_writer_that_lists_case_after_case_is_stopped_after_eight_tests(tmp_path):
    # measured (module-roman): asked for "2 to 6", the 1.5B wrote 31 one-line tests in 700 tokens, 66 s of 300
    from sparkcode.agent.acceptance import MAX_NEW_TESTS, first_tests

    many = "".join(f"\n\n@pytest.mark.slow\ndef test_mean_{i}():\n    assert mean([{i}, {i}]) == {i}\n" for i in range(20))
    writer = "```python\nimport pytest\nfrom stats import mean\n" + many + "```"
    a, backend = make(tmp_path, [FIXED, writer, "done"])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    saved = (a.ws.root / TEST_PATH).read_text()
    assert saved.count("def test_") == MAX_NEW_TESTS == 8 and "test_mean_7()" in saved and "test_mean_8" not in saved
    assert saved.rstrip().endswith("== 7")  # the ninth test's decorator went with it
    assert out.turns[0].verify_tokens < len(writer) // 4  # the generation itself stopped, not only its text
    cut = first_tests(writer, 2)
    assert cut.count("def test_") == 2 and cut.endswith("== 1\n```")
    assert first_tests(writer, 30) == writer


def test_tests_for_uncovered_values_are_added_to_the_file_not_written_again():
    from sparkcode.agent.acceptance import with_new_tests

    src = "import pytest\nfrom roman import to_roman\n\n\ndef test_four():\n    assert to_roman(4) == 'IV'\n"
    more = ("from roman import from_roman\n\n\n@pytest.mark.parametrize('s', ['ABC'])\ndef test_abc(s):\n"
            "    with pytest.raises(ValueError):\n        from_roman(s)\n")
    out = with_new_tests(src, more)
    assert out.startswith("from roman import from_roman\n") and "def test_four" in out
    assert "@pytest.mark.parametrize('s', ['ABC'])\ndef test_abc(s):" in out
    compile(out, "t.py", "exec")
    whole = src + "\n\ndef test_nine():\n    assert to_roman(9) == 'IX'\n"
    assert with_new_tests(src, whole) == whole  # a whole file again replaces the old one
    assert with_new_tests(src, "def test_four():\n    assert True\n") == "def test_four():\n    assert True\n"


def test_only_errors_of_the_tests_own_code_count_as_broken():
    from sparkcode.agent.pytest_report import own_errors

    def section(name, frames, code, error):
        return f"_____ {name} _____\n" + "".join(f"{f}: in {name}\n" for f in frames) + f"    {code}\nE   {error}\n"

    t = ".sparkcode/acceptance/test_task.py"
    report = (section("test_own", [f"/tmp/x/{t}:5"], "data = folder / 'in.txt'", "TypeError: unsupported operand")
              + section("test_assert", [f"{t}:9"], "assert total == 3", "AssertionError: assert 2 == 3")
              + section("test_in_code", [f"{t}:12", "stats.py:2"], "return xs / 2", "TypeError: unsupported operand")
              + section("test_uses_code", [f"{t}:15"], "mean(None) + 1", "TypeError: unsupported operand")
              + section("test_raises", [f"{t}:18"], "with pytest.raises(ValueError):", "Failed: DID NOT RAISE"))
    assert own_errors(report, t, {"mean", "stats"}) == {"test_own": "TypeError: unsupported operand"}


def test_a_failing_test_of_a_value_the_task_states_is_never_disputed(tmp_path):
    task = "Write stats.py with mean(xs), the average of a list: the mean of [10, 20, 30, 40] is 25.0."
    tests = py("t.py", "from stats import mean\n\n\ndef test_mean_of_four():\n"
                       "    assert mean([10, 20, 30, 40]) == 25.0\n")
    v = [py("stats.py", f"def mean(xs):\n    return sum(xs) / (len(xs) + 1 + 0 * {i})\n") for i in range(5)]
    fixed = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")
    a, backend = make(tmp_path, [v[0], tests, v[1], v[2], v[3], v[4], fixed], repair_rounds=8, max_fresh=0)
    out = a.run(task)
    assert out.status == "done", out.summary  # kept in force through five wrong versions
    assert len(out.turns) == 6
    assert not any("KEEP" in r.messages[-1]["content"] for r in backend.requests)  # never even reviewed
    feedback = backend.requests[2].messages[-1]["content"]
    assert "assert mean([10, 20, 30, 40]) == 25.0" in feedback and "20.0 == 25.0" in feedback


def test_asserts_stated_value_reads_the_failing_statement_only():
    from sparkcode.agent.acceptance import asserts_stated_value

    task = ('paginate(list(range(10)), 1, 3) should be [0, 1, 2]; `python csvsum.py sales.csv amount` prints 21.75 '
            'and --where gives 17.50; bad input exits with status 2. count_words("A a") gives {"a": 2}.')
    src = ("def test_x():\n    assert paginate(list(range(10)), 1, 3) == [0, 1, 2]\n    assert r.returncode == 2\n"
           "    assert r.stdout.strip() == '21.75'\n    assert float(r.stdout) == pytest.approx(17.5)\n"
           "    assert count_words('A a') == {'a': 1}\n    assert count_words('A a') == {'a':2}\n")
    assert [asserts_stated_value(src, n, task) for n in range(2, 8)] == [True, False, True, True, False, True]
    # a percentage the task states is a rate, not a result (a wrong `quote(100) == 25` stays reviewable)
    rate = "The rate is now 25%, so set TAX_RATE to 0.25."
    src = "def test_q():\n    assert quote(100) == 25\n    assert TAX_RATE == 0.25\n"
    assert [asserts_stated_value(src, n, rate) for n in (2, 3)] == [False, True]


def test_the_failure_digest_shows_the_first_failures_whole_and_every_failing_test():
    from sparkcode.agent.pytest_report import digest, failing_lines

    report = "".join(f"____ test_{i} ____\nt.py:{i}: in test_{i}\n    assert f({i}) == 0\nE   assert {i} == 0\n"
                     "E    +  where '' = <built-in method strip of str object at 0x7f>()\n" for i in range(200))
    report += "=== short test summary info ===\n" + "".join(f"FAILED t.py::test_{i}\n" for i in range(3))
    text = digest(report, 1000)
    assert len(text) <= 1010 and "assert f(0) == 0" in text and "E   assert 0 == 0" in text
    assert "built-in method" not in text and "FAILED t.py::test_2" in text
    assert failing_lines(report, "t.py")["test_7"] == 7
    assert failing_lines("/tmp/x/ws/t.py:12: in test_a\n", "t.py") == {"test_a": 12}  # a run in a copy


def test_the_digest_says_in_plain_words_what_text_the_code_gave_and_what_the_test_wants(tmp_path):
    # real pytest output: the 1.5B sent `Total sum: 60.0` back three times against pytest's diff alone
    import subprocess
    import shlex

    from sparkcode.agent.pytest_report import PYTEST, digest

    (tmp_path / "test_out.py").write_text(
        "def test_total():\n    out = 'Total sum: 60.0'\n    assert out == '60.00'\n\n\n"
        "def test_reversed():\n    out = '17.5'\n    assert \"17.50\" == out\n\n\n"
        "def test_words():\n    out = 'Hello, Ann'\n    assert out == 'Hello, Ann!'\n\n\n"
        "def test_status():\n    assert 1 == 2\n")
    r = subprocess.run([*shlex.split(PYTEST), "test_out.py"], cwd=tmp_path, capture_output=True, text=True)
    text = digest(r.stdout)
    lead, _, rest = text.partition("\n\n")
    assert lead.splitlines() == [
        "In plain words:",
        "- test_total: the code gave 'Total sum: 60.0' where the test wants exactly '60.00': only 60.00, with no other "
        "words on the line; the number 60.0 written as 60.00 (2 decimals, e.g. f\"{value:.2f}\")",
        "- test_reversed: the code gave '17.5' where the test wants exactly '17.50': the number 17.5 written as 17.50 "
        "(2 decimals, e.g. f\"{value:.2f}\")",
        "- test_words: the code gave 'Hello, Ann' where the test wants exactly 'Hello, Ann!'"], text
    assert "assert 1 == 2" in rest  # pytest's own lines follow, whole
    # given the code, the print line that wrote the text is named, with the one that writes the wanted text
    code = {"csvsum.py": "import sys\n\ntotal = 60.0\nprint(f'Total sum: {total}')\nprint('x', file=sys.stderr)\n"}
    assert ("csvsum.py line 4 prints it: `print(f'Total sum: {total}')`: write `print(f\"{total:.2f}\")` instead"
            in digest(r.stdout, sources=code).splitlines()[1])
    assert "prints it" not in digest(r.stdout, sources={"a.py": "print(f'Total sum: {t}')", "b.py": "print('Total', 'sum:', u)"})
    assert digest("____ test_a ____\nt.py:1: in test_a\n    assert f() == 0\nE   assert 1 == 0\n").startswith("____")


def test_each_acceptance_test_runs_in_its_own_copy_of_the_workspace(tmp_path):
    counter = py("count.py", "import json, os, sys\n\nn = json.load(open('n.json')) if os.path.exists('n.json') else 0\n"
                             "json.dump(n + 1, open('n.json', 'w'))\nprint(n + 1)\n")
    tests = py("t.py", "def test_first_run_prints_1():\n"
                       "    r = subprocess.run([sys.executable, 'count.py'], capture_output=True, text=True)\n"
                       "    assert r.stdout.strip() == '1'\n\n\n"
                       "def test_a_fresh_folder_prints_1_too():\n"
                       "    r = subprocess.run([sys.executable, 'count.py'], capture_output=True, text=True)\n"
                       "    assert r.stdout.strip() == '1'\n")
    a, backend = make(tmp_path, [counter, tests])
    out = a.run("Write count.py: it counts its runs in n.json in the current folder and prints the count; "
                "the first run prints 1.")
    assert out.status == "done", out.summary
    assert not (a.ws.root / "n.json").exists()  # the tests never wrote into the user's workspace


def test_a_reply_cut_by_the_token_limit_keeps_its_finished_tests():
    from sparkcode.agent.acceptance import parse_tests

    src, err = parse_tests("```python\nfrom m import f\n\n\ndef test_a():\n    assert f(1) == 2\n\n\ndef test_b():\n    assert f(")
    assert err == "" and "def test_a" in src and "test_b" not in src
    assert parse_tests("```python\ndef main():\n    print(1)\n```")[0] is None


def test_unusable_tests_leave_the_run_unverified_and_say_why(tmp_path):
    a, _ = make(tmp_path, [FIXED, "I cannot write tests.", "still no tests"])
    out = a.run("Write stats.py with mean(xs), the average of a list, and 0 for an empty list.")
    assert out.status == "unverified"
    assert "acceptance tests" in out.summary and out.missing
    assert out.to_dict()["verified"] is False


def test_a_change_with_nothing_to_run_is_unverified(tmp_path):
    a, _ = make(tmp_path, ["FILE: NOTES.md\n```markdown\n# notes\n\nhello\n```"])
    out = a.run("write a notes file")
    assert out.status == "unverified"
    assert "no check ran its behaviour" in out.summary


def test_without_chromium_a_page_is_unverified_and_the_run_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(browser_check, "available", lambda: False)
    page = ("FILE: index.html\n```html\n<!DOCTYPE html><html><body><button id='b'>+</button>"
            "<script>document.getElementById('b').onclick = () => {};</script></body></html>\n```")
    a, _ = make(tmp_path, [page])
    out = a.run("make a page with a button")
    assert out.status == "unverified"
    assert any("chromium" in m.lower() for m in out.missing)


STACK = ("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n"
         "        self.items.append(x)\n\n    def peek(self):\n        return self.items[-1]\n\n"
         "    def size(self):\n        return len(self.items)\n")
POP_TESTS = py("t.py", "from stack import Stack\n\n\ndef test_pop():\n    s = Stack()\n    s.push(1)\n"
                       "    assert s.pop() == 1\n")


def test_a_rewrite_that_leaves_out_methods_keeps_them(tmp_path):
    dropped = py("stack.py", "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
                             "    def push(self, x):\n        self.items.append(x)\n\n"
                             "    def pop(self):\n        return self.items.pop()\n")
    a, backend = make(tmp_path, [dropped, POP_TESTS], files={"stack.py": STACK})
    out = a.run("Add a pop() method to Stack in stack.py that removes and returns the top item.")
    assert out.status == "done", out.summary
    text = (a.ws.root / "stack.py").read_text()
    assert all(f"def {m}(self" in text for m in ("push", "peek", "size", "pop"))


def test_public_methods_that_existed_must_survive_an_edit(tmp_path):
    # an edit that replaces a method (not a whole-file rewrite: nothing is merged) is caught by the guard
    swap = "stack.py\n<<<<<<< SEARCH\n    def peek(self):\n        return self.items[-1]\n=======\n" \
           "    def pop(self):\n        return self.items.pop()\n>>>>>>> REPLACE"
    kept = py("stack.py", STACK + "\n    def pop(self):\n        return self.items.pop()\n")
    a, backend = make(tmp_path, [swap, kept, POP_TESTS], files={"stack.py": STACK})
    out = a.run("Add a pop() method to Stack in stack.py that removes and returns the top item.")
    assert out.status == "done", out.summary
    feedback = backend.requests[1].messages[-1]["content"]
    assert "Stack.peek" in feedback and "are gone" in feedback


def test_a_rename_is_checked_everywhere_with_the_search(tmp_path):
    from sparkcode.agent.verify import RenameGone, VerifyContext

    files = {"util.py": "def grand_total(xs):\n    return sum(xs)\n",
             "app.py": "from util import old_total\n\nprint(old_total([1, 2]))\n"}
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    ws = Workspace(tmp_path)
    task = "Rename `old_total` to `grand_total` everywhere in the project."
    [left] = RenameGone(task).verify(VerifyContext(ws, task, ["util.py"], ["util.py"]))
    assert not left.ok and "`old_total` still appears" in left.message and "app.py:1" in left.message
    (tmp_path / "app.py").write_text("from util import grand_total\n\nprint(grand_total([1, 2]))\n")
    [gone] = RenameGone(task).verify(VerifyContext(ws, task, ["app.py"], ["app.py"]))
    assert gone.ok


def test_rename_phrases_are_understood():
    assert renames_in("Rename the function `get_usr` to `get_user` everywhere") == [("get_usr", "get_user")]
    assert renames_in("please rename calc_total() to compute_total across all files") == [("calc_total", "compute_total")]
    assert renames_in("add a rename command to the CLI") == []


def test_a_reply_that_repeats_itself_is_cut_and_the_turn_sampled_again(tmp_path):
    loop = "FILE: x.py\n```python\n" + "elif x == 1:\n    y = 2\n" * 200
    calls = []

    def runaway(request):
        calls.append(request)
        return loop

    a, backend = make(tmp_path, [runaway, FIXED, TESTS])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    assert backend.requests[1].sampling.temperature == 0.7  # the retry is sampled
    assert all("elif x == 1" not in m["content"] for m in backend.requests[1].messages)  # the cut reply is gone
    assert out.turns[0].completion_tokens < 3072 // 2  # cut early, not at the token budget


def test_a_turn_still_writing_at_the_wall_time_limit_is_cut_and_the_run_ends_timeout(tmp_path):
    import time

    def slow(request):
        time.sleep(0.6)  # the model is still writing when the limit passes
        return FIXED

    a, backend = make(tmp_path, [slow, TESTS], wall_limit_s=0.3)
    out = a.run(TASK)
    assert out.status == "timeout" and "during a turn" in out.summary
    assert not (a.ws.root / "stats.py").exists()  # the cut reply was not acted on
    assert len(backend.requests) == 1


def test_the_repetition_guard_ignores_ordinary_code():
    g = RepetitionGuard()
    code = "\n".join(f"    cell{i} = document.createElement('div')" for i in range(40)) + "\n"
    code += "}\n" * 30
    assert not g.feed(code)
    g2 = RepetitionGuard()
    assert g2.feed("ctx.fillRect(0, 0, 10, 10);\nctx.strokeRect(1, 1, 10, 10);\n" * 40)


def test_the_repetition_guard_catches_a_long_block_written_twice_in_a_row():
    block = ("```python\n" + "".join(f"def f{i}(x):\n    return x * {i} + len(str(x))\n\n" for i in range(12))
             + "```\n\nNow the tests should pass. Let's run them again:\n\n```\n3 failed, 5 passed in 0.48s\n```\n\n")
    g = RepetitionGuard()
    assert not any(g.feed(line + "\n") for line in block.splitlines())
    assert any(g.feed(line + "\n") for line in block.splitlines())  # the second copy trips it
    cards = "".join(f"<div class='card'>\n  <h2>Item {i}</h2>\n  <img src='item{i}.png' alt='item {i}'>\n"
                    f"  <p>Price: {i * 3} EUR, a fine thing to buy</p>\n  <p>Weight: {i + 1} kg</p>\n"
                    f"  <p>In stock: {i * 7}</p>\n  <button data-id='{i}'>Add to cart</button>\n"
                    f"  <a href='#item{i}'>More about item {i}</a>\n</div>\n" for i in range(3))
    assert not RepetitionGuard().feed(cards)  # cards that differ in their numbers are not a loop
    g2 = RepetitionGuard()  # the same code twice, once explained and once as the file: not a loop
    twice = block.split("```\n\nNow")[0] + "```\n\nFILE: f.py\n" + block.split("```\n\nNow")[0] + "```\n"
    assert not any(g2.feed(line + "\n") for line in twice.splitlines())


def test_the_repetition_guard_catches_one_sentence_repeated_on_one_line():
    sentence = "The `sort_versions` function was also not correctly handling the case where the lengths differ. "
    g = RepetitionGuard()
    fed = "FILE: versions.py\n```python\nx = 1\n```\n\nThe fix: " + sentence
    assert not g.feed(fed)
    tripped_at = next(i for i in range(1, 40) if g.feed(sentence))  # token by token it would be sooner still
    assert tripped_at <= 7 and "same words" in g.why
    prose = " ".join(f"word{i} means thing {i * 7} in the report of day {i}." for i in range(80))  # long, no loop
    assert not RepetitionGuard().feed(prose)


def test_the_stuck_detector_escalates_note_then_rewind_then_give_up(tmp_path):
    a, backend = make(tmp_path, [BUGGY, TESTS, "again\n" + BUGGY, "KEEP", "and again\n" + BUGGY,
                                 "once more\n" + BUGGY], repair_rounds=10, max_fresh=0)
    out = a.run(TASK)
    assert out.status == "gave_up" and out.summary.startswith("stuck")
    temps = [r.sampling.temperature for r in backend.requests]
    # turn 1, the test writer, turn 2 (stuck), the test's review, then sampled turns
    assert temps == [0.0, 0.0, 0.0, 0.0, 0.7, 0.7]
    assert "you wrote the same code again" in backend.requests[4].messages[-1]["content"]
    # the second time, the conversation went back to before the first stuck reply
    assert backend.requests[5].messages == backend.requests[4].messages[:len(backend.requests[5].messages)]
    assert not any("again\n" in m["content"] for m in backend.requests[5].messages if m["role"] == "assistant")


def test_code_that_hides_the_stated_functions_fails_every_test_of_the_stated_examples(tmp_path):
    # the task's own examples (test_stated.py) cannot import parse/fmt from a class-wrapped module:
    # each of them counts as failing, not only the model's tests that ran (measured: such a candidate
    # ranked best, 2 failures against 12, and the run ended with a module the hidden tests could not import)
    task = 'Write durs.py with parse(text) and fmt(n): parse("1h") == 3600, parse("2h") == 7200, fmt(3600) == "1h".'
    wrapped = py("durs.py", "class D:\n    @staticmethod\n    def parse(t):\n        return 3600 * int(t[:-1])\n\n"
                            "    @staticmethod\n    def fmt(n):\n        return f'{n // 3600}h'\n")
    tests = py("t.py", "import durs\n\n\ndef test_parse():\n    assert durs.parse('1h') == 3600\n    assert durs.parse('2h') "
                       "== 7200\n\n\ndef test_fmt():\n    assert durs.fmt(3600) == '1h'\n")
    flat = py("durs.py", "def parse(t):\n    return 3600 * int(t[:-1])\n\n\ndef fmt(n):\n    return f'{n}s'\n")
    a, _ = make(tmp_path, [flat, tests, wrapped], max_turns=2, max_fresh=0)
    out = a.run(task)
    # the wrapped version (turn 2) fails more than the first, which fails fmt only: the first is put back
    assert out.status == "max_turns" and "kept the version of turn 1" in out.summary, out.summary
    assert (a.ws.root / "durs.py").read_text().startswith("def parse(t):")
    from sparkcode.agent.session import Session
    turn2 = [e for e in Session.latest(a.ws.root).events() if e["type"] == "checks"][-1]["results"]
    check = next(c for c in turn2 if c["path"] == TEST_PATH)
    stated = (a.ws.root / ".sparkcode/acceptance/test_stated.py").read_text()
    assert "ERROR collecting .sparkcode/acceptance/test_stated.py" in check["message"]
    assert check["cases_failed"] >= 2 + stated.count("def test_") >= 5


def test_tests_that_never_call_a_function_the_task_names_are_asked_for_it_and_else_leave_the_run_unverified(tmp_path):
    task = "Write stats.py with mean(xs), the average of a list, and median(xs), the middle value of a sorted copy."
    code = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n\n\ndef median(xs):\n    return sorted(xs)[0]\n")
    only_mean = py("t.py", "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n")
    median = py("t.py", "def test_median():\n    assert median([3, 1, 2]) == 2\n")
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    a, backend = make(tmp_path / "a", [code, only_mean, median, "KEEP"], max_turns=1, max_fresh=0)
    out = a.run(task)
    assert "never call median, which the task names" in backend.requests[2].messages[-1]["content"]
    assert "def test_median" in (a.ws.root / TEST_PATH).read_text() and out.status != "done"  # and it fails
    # a cover reply that still never calls it: the passing tests do not make the run "done"
    a, backend = make(tmp_path / "b", [code, only_mean, "```python\ndef test_more():\n    assert mean([2]) == 2\n```"])
    out = a.run(task)
    assert out.status == "unverified" and "never call median" in out.summary, out.summary


def test_a_stuck_attempt_is_abandoned_for_a_fresh_start_at_the_second_sign(tmp_path):
    # turn 2 copies the failing file (noted), turn 3 copies the whole reply: the attempt is abandoned
    # at once for a fresh start from the task, not rewound for one more turn of the same attempt
    a, backend = make(tmp_path, [BUGGY, TESTS, "again\n" + BUGGY, "KEEP", "again\n" + BUGGY, FIXED],
                      repair_rounds=10, fresh_after=10)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    fresh = backend.requests[5]
    assert [m["role"] for m in fresh.messages] == ["system", "user"] and fresh.sampling.temperature > 0
    assert "earlier attempt" in fresh.messages[1]["content"]
    assert len(backend.requests) == 6  # no further turn of the stuck attempt


def test_search_tool_finds_lines_and_stays_in_the_workspace(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.py").write_text("x = 1\ndef old():\n    pass\n")
    (tmp_path / "ws" / "b.txt").write_text("old news\n")
    (tmp_path / "secret.py").write_text("def old(): pass\n")
    tb = Toolbox(Workspace(tmp_path / "ws"))
    r = tb.call("search", {"pattern": r"\bold\b"})
    assert r.ok and "a.py:2: def old():" in r.output and "b.txt:1: old news" in r.output
    assert "secret" not in r.output
    assert "a.py" not in tb.call("search", {"pattern": "old", "glob": "*.txt"}).output
    assert not tb.call("search", {"pattern": "("}).ok


def test_a_wrong_test_is_reviewed_when_the_model_stands_by_its_code(tmp_path):
    wrong = py("t.py", "from stats import mean\n\n\ndef test_empty():\n    assert mean([]) is None\n")
    review = py("t.py", "from stats import mean\n\n\ndef test_empty():\n    assert mean([]) == 0\n")
    a, backend = make(tmp_path, [FIXED, wrong, "It is right.\n" + FIXED, review])
    out = a.run(TASK)
    # the code it stood by passes the reviewed tests: done, with no further turn
    assert out.status == "done" and len(backend.requests) == 4, out.summary
    assert "keep failing (test_empty)" in backend.requests[3].messages[-1]["content"]
    assert backend.requests[3].constraint is TEST_FILE_OR_KEEP  # a review may answer KEEP
    text = (a.ws.root / TEST_PATH).read_text()
    assert "assert mean([]) == 0" in text and text.startswith("import json")  # the usual imports on top


def test_the_test_writer_is_told_about_programs_only_when_there_are_some(tmp_path):
    cli = py("conv.py", "import sys\n\nif __name__ == '__main__':\n    print(sys.argv[1])\n")
    tests = py("t.py", "def test_echo():\n    r = subprocess.run([sys.executable, 'conv.py', 'x'], capture_output=True, "
                       "text=True)\n    assert r.stdout.strip() == 'x'\n")
    a, backend = make(tmp_path, [cli, tests])
    assert a.run("Write conv.py that prints its first argument: `python conv.py x` prints x.").status == "done"
    assert "subprocess.run([sys.executable" in backend.requests[1].messages[-1]["content"]
    (tmp_path / "m").mkdir()
    a, backend = make(tmp_path / "m", [FIXED, TESTS])
    assert a.run(TASK).status == "done"
    assert "subprocess.run([sys.executable" not in backend.requests[1].messages[-1]["content"]


def test_tests_that_import_a_name_the_task_states_are_not_rewritten_when_the_code_lacks_it(tmp_path):
    no_mean = py("stats.py", "def average(xs):\n    return sum(xs) / len(xs) if xs else 0\n")
    a, backend = make(tmp_path, [no_mean, TESTS, "Done.\n" + no_mean, "Really.\n" + no_mean, FIXED], repair_rounds=6)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    # the ImportError of `mean` (named by the task) was the code's fault: no test writer call after the first
    writer_calls = [r for r in backend.requests if "acceptance tests" in r.messages[0]["content"]]
    assert len(writer_calls) == 1


def test_a_function_written_earlier_in_the_run_survives_a_partial_rewrite(tmp_path):
    both = py("rle.py", "def encode(s):\n    return s\n\n\ndef decode(s):\n    return s[1:]\n")
    only_decode = py("rle.py", "def decode(s):\n    return s\n")
    tests = py("t.py", "from rle import encode, decode\n\n\ndef test_roundtrip():\n    assert decode(encode('ab')) == 'ab'\n")
    a, backend = make(tmp_path, [both, tests, only_decode])
    out = a.run("Write rle.py with encode(text) and decode(text); decode(encode(s)) == s.")
    assert out.status == "done", out.summary
    assert "def encode(s)" in (a.ws.root / "rle.py").read_text()  # the partial rewrite kept it


def test_a_name_the_task_asks_to_remove_may_go(tmp_path):
    files = {"m.py": "def keep():\n    return 1\n\n\ndef legacy():\n    return 2\n"}
    removed = py("m.py", "def keep():\n    return 1\n")
    tests = py("t.py", "import m\n\n\ndef test_gone():\n    assert not hasattr(m, 'legacy') and m.keep() == 1\n")
    a, _ = make(tmp_path, [removed, tests], files=files)
    assert a.run("Remove the unused function legacy from m.py.").status == "done"


def test_without_node_the_page_says_its_script_was_not_checked(tmp_path, monkeypatch):
    import shutil

    from sparkcode import components

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "node" else real(name, *a, **k))
    components.refresh()
    try:
        page = ("FILE: index.html\n```html\n<!DOCTYPE html><html><body><p>hi</p>"
                "<script>document.title = 'x';</script></body></html>\n```")
        a, _ = make(tmp_path, [page], browser_check=False)
        out = a.run("make a page")
        assert out.status == "unverified"
        assert any("node is missing" in m and "install" in m for m in out.missing)
    finally:
        monkeypatch.undo()
        components.refresh()


def test_examples_stated_in_the_task_are_tests_even_when_the_writer_fails(tmp_path):
    a, backend = make(tmp_path, [BUGGY, "no tests from me", "none", FIXED])
    out = a.run(TASK)  # "mean([]) must return 0"
    assert out.status == "done", out.summary
    assert "test_stated_example_1" in backend.requests[3].messages[-1]["content"]
    assert "assert mean([]) == 0" in (a.ws.root / ".sparkcode/acceptance/test_stated.py").read_text()


def test_stated_examples_take_what_the_task_wants_not_what_the_code_does_today(tmp_path):
    from sparkcode.agent.examples import stated_examples

    (tmp_path / "stats.py").write_text("def mean(xs):\n    pass\n\n\ndef median(xs):\n    pass\n")
    (tmp_path / "conv.py").write_text("import sys\n")
    ws = Workspace(tmp_path)
    task = ("median() blows up on []. Like mean(), it should return None for an empty list. median([4, 1, 3, 2]) "
            "returns 3 but should return 2.5. mean([1, 2]) == 1.5; mean(xs) gives garbage, but mean([2]) is fine, "
            "so median([5]) should be 5. `python conv.py c2f 100` prints 212.0 and `python conv.py x` prints the help. "
            '`python conv.py add "a b"` adds it and prints `added 1: a b`; `python conv.py list` prints one line each, '
            "like `1 a b`.")
    src = stated_examples(task, ws)
    asserts = [ln.strip() for ln in src.splitlines() if ln.strip().startswith("assert")]
    assert asserts[:2] == ["assert median([4, 1, 3, 2]) == pytest.approx(2.5)", "assert mean([1, 2]) == pytest.approx(1.5)"]
    assert asserts[2] == "assert median([5]) == 5"
    assert "== '212.0'" in asserts[3]  # not "returns 3", not mean(), not the prose
    assert "== 'added 1: a b'" in asserts[4] and len(asserts) == 5  # "… and prints", but not "prints one line each, like"
    assert "*['add', 'a b']" in src
    assert stated_examples("Write a parser.", ws) == ""


def test_stated_input_output_lists_and_error_inputs_become_tests(tmp_path):
    from sparkcode.agent.examples import stated_examples

    (tmp_path / "units.py").write_text("def to_grams(text):\n    pass\n\n\ndef label(grams, short=True):\n    pass\n\n\n"
                                       "def merge(a, b):\n    pass\n")
    ws = Workspace(tmp_path)
    task = ('Write units.py:\n- to_grams(text) reads weights: "2kg" -> 2000, "5g" -> 5, "1kg5g" -> 1005. Anything else '
            '("", "kg", "5x") raises ValueError.\n- label(grams) does the reverse: 2000 should give "2kg".\n'
            '- merge(a, b) adds two weights: "1kg" -> "2kg" is not an example. merge raises ValueError for "x".\n'
            'to_grams("1 kg") currently raises TypeError but should raise ValueError too.')
    src = stated_examples(task, ws)
    lines = [ln.strip() for ln in src.splitlines() if ln.strip().startswith(("assert", "with", "to_grams", "label"))]
    assert lines == ['assert to_grams("2kg") == 2000', 'assert to_grams("5g") == 5', 'assert to_grams("1kg5g") == 1005',
                     'assert label(2000) == "2kg"',
                     "with pytest.raises(ValueError):", 'to_grams("")', "with pytest.raises(ValueError):",
                     'to_grams("kg")', "with pytest.raises(ValueError):", 'to_grams("5x")']


def test_stated_pairs_and_error_inputs_are_not_taken_from_what_the_task_does_not_say(tmp_path):
    from sparkcode.agent.examples import stated_examples

    (tmp_path / "m.py").write_text("def clamp(x):\n    pass\n\n\ndef yn(s):\n    pass\n\n\ndef rev(s):\n    pass\n")
    ws = Workspace(tmp_path)
    said = {
        "clamp(x) keeps numbers in 0..10: -5 -> 0, 12.5 -> 10.": ["assert clamp(-5) == 0", "assert clamp(12.5) == 10"],
        'yn(s) returns 0 for "0" and raises ValueError for "x".': ["with pytest.raises(ValueError):", 'yn("x")'],
        'yn(s) raises ValueError unless s is "yes" or "no".': [],
        'yn(s) must not raise ValueError for " y ".': [],
        'yn(s) raises ValueError with the message "empty input".': [],
        'Today clamp(x) gives the wrong value: 5 -> 7.': [],
        'clamp(x) keeps numbers in range; rev(s) reverses them: 5 -> 5.': [],  # which function?
    }
    for task, want in said.items():
        got = [ln.strip() for ln in stated_examples(task, ws).splitlines() if ln.startswith("    ")]
        assert got == want, task


def test_rewriting_a_buggy_file_unchanged_is_verified_like_a_change(tmp_path):
    files = {"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n"}
    a, backend = make(tmp_path, [BUGGY, TESTS, FIXED], files=files)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    # the unchanged rewrite was tested, and the failure went back
    assert "ZeroDivisionError" in backend.requests[2].messages[-1]["content"]


def test_a_file_written_as_dot_slash_path_is_checked_and_reported_once(tmp_path):
    files = {"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n"}
    a, backend = make(tmp_path, [py("./stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n"), TESTS, FIXED],
                      files=files)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    feedback = backend.requests[2].messages[-1]["content"]
    assert "check stats.py:" in feedback and "./stats.py" not in feedback.replace("write_file ./stats.py", "")


def test_the_same_wrong_code_over_and_over_does_not_dispute_a_test(tmp_path):
    a, backend = make(tmp_path, [BUGGY, TESTS, "a\n" + BUGGY, "KEEP", "b\n" + BUGGY, "c\n" + BUGGY],
                      repair_rounds=10, max_fresh=0)
    out = a.run("Write stats.py with mean(xs), the average of a list, and 0 for an empty list.")
    assert out.status == "gave_up"  # stuck on one version: the test stays in force


def test_tests_that_bring_their_own_copy_of_the_code_are_not_used(tmp_path):
    own_copy = py("t.py", "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0\n\n\n"
                          "def test_empty():\n    assert mean([]) == 0\n")
    a, backend = make(tmp_path, [BUGGY, own_copy, TESTS, FIXED])
    out = a.run("Write stats.py with mean(xs), the average of a list, and 0 for an empty list.")
    assert out.status == "done", out.summary
    assert "define mean themselves" in backend.requests[2].messages[-1]["content"]  # the writer's retry
    assert "def mean" not in (a.ws.root / TEST_PATH).read_text()


def test_a_test_that_demands_a_made_up_error_message_only_asks_for_a_message(tmp_path):
    cli = py("conv.py", "import sys\n\nif __name__ == '__main__':\n    try:\n        print(float(sys.argv[1]))\n"
                        "    except ValueError:\n        sys.exit('conv.py: not a number: ' + sys.argv[1])\n")
    tests = py("t.py", "def test_bad_value():\n    r = subprocess.run([sys.executable, 'conv.py', 'x'], capture_output=True, "
                       "text=True)\n    assert r.returncode != 0\n"
                       "    assert r.stderr.strip() == 'Invalid input. Please provide a number.'\n")
    a, backend = make(tmp_path, [cli, tests])
    out = a.run("Write conv.py that prints its argument as a float; a value that is not a number prints an error "
                "and exits with a non-zero status.")
    assert out.status == "done", out.summary
    text = (a.ws.root / TEST_PATH).read_text()
    assert "Invalid input" not in text and "assert r.stderr.strip()" in text and "r.returncode != 0" in text


def test_a_writer_demand_that_the_task_s_own_example_contradicts_is_dropped(tmp_path):
    """Measured (module-rle, 2 runs of 2): the writer demanded encode("") raise ValueError where the
    task says encode("") == "": no code passes both, and neither run ended verified."""
    rle = py("rle.py", "def encode(text):\n    if text == 'x':\n        raise ValueError(text)\n    return text\n")
    tests = py("t.py", "from rle import encode\n\n\ndef test_empty():\n    with pytest.raises(ValueError):\n"
                       "        encode('')\n\n\ndef test_same():\n    assert encode('ab') == 'ab'\n"
                       "    assert encode('') == 'nothing'\n\n\ndef test_bad():\n    with pytest.raises(Exception):\n"
                       "        encode('x')\n")
    a, _ = make(tmp_path, [rle, tests])
    out = a.run('Write rle.py with encode(text). encode("") == ""; encode raises ValueError on "x".')
    assert out.status == "done", out.summary
    text = (a.ws.root / TEST_PATH).read_text()
    assert "def test_empty" not in text and "'nothing'" not in text  # both contradict encode("") == ""
    assert "encode('ab') == 'ab'" in text and "pytest.raises(Exception)" in text  # agree with what is stated


def test_contradicting_demands_are_told_apart_from_agreeing_ones():
    from sparkcode.agent.examples import drop_contradicted

    stated = ("def test_stated_example_1():\n    assert f(2) == pytest.approx(0.5)\n\n\n"
              "def test_stated_example_2():\n    with pytest.raises(ValueError):\n        f(0)\n")
    keep = ("def test_a():\n    assert f(2) == 0.5\n    assert f(3) == 1\n    assert g(2) == 7\n\n\n"
            "def test_b():\n    with pytest.raises((TypeError, ValueError)):\n        f(0)\n\n\n"
            "def test_c():\n    with pytest.raises(LookupError):\n        f(1)\n")
    assert drop_contradicted(keep, stated) == (keep, [])
    drop = ("def test_a():\n    assert f(2) == 0.25\n    assert f(3) == 1\n\n\n"
            "def test_b():\n    with pytest.raises(TypeError):\n        f(0)\n\n\n"
            "def test_c():\n    assert f(0) == 0\n\n\n"
            "def test_d():\n    with pytest.raises(ValueError):\n        f(2)\n")
    new, dropped = drop_contradicted(drop, stated)
    assert dropped == ["f(2) == 0.25", "TypeError", "f(0) == 0", "ValueError"]
    assert "assert f(3) == 1" in new and "test_b" not in new and "test_c" not in new and "test_d" not in new


def test_a_forgotten_import_of_a_moved_function_is_added(tmp_path):
    files = {"signup.py": "def _check(e):\n    return '@' in e\n\n\ndef register(e):\n    if not _check(e):\n"
                          "        raise ValueError(e)\n    return e\n"}
    moved = (py("validators.py", "def is_valid_email(address):\n    return '@' in address\n") + "\n\n"
             + py("signup.py", "def register(e):\n    if not is_valid_email(e):\n        raise ValueError(e)\n    return e\n"))
    tests = py("t.py", "from signup import register\nfrom validators import is_valid_email\n\n\n"
                       "def test_register():\n    assert register('a@b.c') == 'a@b.c'\n    assert not is_valid_email('x')\n")
    a, backend = make(tmp_path, [moved, tests])
    out = a.run("Move the email check of signup.py into validators.py as is_valid_email(address) and delete _check.")
    assert out.status == "done", out.summary
    assert "from validators import is_valid_email" in (a.ws.root / "signup.py").read_text()


def test_after_failed_repairs_the_run_starts_afresh_from_the_original_files_and_keeps_its_tests(tmp_path):
    files = {"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n"}
    wrong = [py("stats.py", f"def mean(xs):\n    return {v}\n") for v in ("5", "6", "7")]  # as bad as each other
    edit_orig = "stats.py\n<<<<<<< SEARCH\n    return sum(xs) / len(xs)\n=======\n" \
                "    return sum(xs) / len(xs) if xs else 0\n>>>>>>> REPLACE"
    a, backend = make(tmp_path, [wrong[0], TESTS, wrong[1], "KEEP", wrong[2], edit_orig], files=files,
                      fresh_after=2)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    fresh = backend.requests[5]
    # back to the task alone (system + task), sampled, and the edit applies to the ORIGINAL file
    assert [m["role"] for m in fresh.messages] == ["system", "user"] and fresh.sampling.temperature > 0
    assert (a.ws.root / "stats.py").read_text() == "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0\n"
    assert "def test_empty" in (a.ws.root / TEST_PATH).read_text()  # the tests stayed and passed
    # the fresh attempt is told what failed (not the tests' code), and a resumed session sees the same
    first = fresh.messages[1]["content"]
    assert first.startswith(backend.requests[0].messages[1]["content"]) and "test_empty: assert 7 == 0" in first
    assert "def test_" not in first and "```" not in first.split("Workspace:", 1)[1]
    from sparkcode.agent.session import Session
    assert Session.latest(a.ws.root).messages()[1]["content"] == first


def test_a_fresh_attempt_is_told_what_the_thrown_away_attempt_failed(tmp_path):
    bad = [py("stats.py", f"def mean(xs)\n    return {i}\n") for i in range(3)]  # a syntax error each time
    a, backend = make(tmp_path, [*bad, FIXED, TESTS], fresh_after=2)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    first = backend.requests[3].messages[1]["content"]
    assert [m["role"] for m in backend.requests[3].messages] == ["system", "user"]
    assert "earlier attempt" in first and "stats.py:" in first and "SyntaxError" in first


def test_a_run_that_fails_ends_with_the_version_that_failed_fewest_checks(tmp_path):
    half = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")  # fails the empty cases only
    worse = py("stats.py", "def mean(xs):\n    return -1\n")  # fails every test
    worst = py("stats.py", "def mean(xs):\n    return xs[5]\n")  # fails every test
    a, backend = make(tmp_path, [half, TESTS, worse, "KEEP", worst, "KEEP"], max_turns=3, max_fresh=0)
    out = a.run(TASK)
    assert out.status == "max_turns" and "kept the version of turn 1" in out.summary, out.summary
    assert (a.ws.root / "stats.py").read_text() == "def mean(xs):\n    return sum(xs) / len(xs)\n"


def test_a_version_whose_behaviour_could_not_run_never_counts_as_the_best(tmp_path):
    wrong = [py("stats.py", f"def mean(xs):\n    return -{i}\n") for i in (1, 2, 3)]  # fail every test
    # after a fresh start: none compiles, nothing runs
    broken = [py("stats.py", f"def mean(xs)\n    return {i}\n") for i in (0, 1, 2)]
    a, backend = make(tmp_path, [wrong[0], TESTS, wrong[1], "KEEP", wrong[2], *broken], max_turns=3, fresh_after=2,
                      max_fresh=1)
    out = a.run("Write stats.py with mean(xs), the average of a list; mean([]) == 0.")
    assert out.status == "max_turns" and "kept the version of turn 1" in out.summary, out.summary
    assert "return -1" in (a.ws.root / "stats.py").read_text()


def test_each_later_fresh_start_samples_hotter():
    from sparkcode.agent.stuck import unstick_sampling
    from sparkcode.engine.sampling import SamplingParams

    base = SamplingParams(seed=0)
    temps = [unstick_sampling(base, 5, fresh).temperature for fresh in (0, 1, 2)]
    assert temps == [0.7, 0.7, 0.85] and unstick_sampling(base, 5).seed == 5 and unstick_sampling(base, 5).greedy_first


def test_values_the_task_quotes_are_found_in_the_tests_or_asked_for_once(tmp_path):
    from sparkcode.agent.acceptance import uncovered_values

    task = 'Write conv.py with parse(s): parse("12") == 12; parse("") and parse("abc") raise ValueError.'
    assert uncovered_values(task, "def test_a():\n    assert parse('12') == 12\n") == ["", "abc"]
    assert uncovered_values(task, "def test_a():\n    parse(' 12 '), parse(''), parse('abcd')\n") == []
    code = py("conv.py", "def parse(s):\n    return int(s)\n")
    partial = py("t.py", "from conv import parse\n\n\ndef test_twelve():\n    assert parse('12') == 12\n")
    full = py("t.py", "import pytest\nfrom conv import parse\n\n\ndef test_twelve():\n    assert parse('12') == 12\n\n\n"
                      "def test_bad():\n    for s in ('', 'abc'):\n        with pytest.raises(ValueError):\n"
                      "            parse(s)\n")
    a, backend = make(tmp_path, [code, partial, full])
    out = a.run(task)
    assert out.status == "done", out.summary
    assert 'these values the task states: "", "abc"' in backend.requests[2].messages[-1]["content"]
    assert "def test_bad" in (a.ws.root / TEST_PATH).read_text()


def test_a_change_spread_over_files_one_per_turn_is_not_abandoned(tmp_path):
    files = {"a.py": "RATE = 0.2\n\n\ndef fa(x):\n    return x * RATE\n",
             "b.py": "RATE = 0.2\n\n\ndef fb(x):\n    return x * RATE\n"}
    tests = py("t.py", "import a, b, config\n\n\ndef test_one_rate():\n    assert config.RATE == 0.25\n"
                       "    assert a.fa(4) == 1 and b.fb(4) == 1\n")
    uses = "from config import RATE\n\n\ndef {f}(x):\n    return x * RATE\n"
    a_once = py("a.py", "from config import RATE\n\n\ndef fa(x):\n    return RATE * x\n")
    replies = [py("config.py", "RATE = 0.25\n"), tests, py("a.py", uses.format(f="fa")), "KEEP", a_once,
               py("b.py", uses.format(f="fb"))]
    a, backend = make(tmp_path, replies, files=files, fresh_after=2)
    out = a.run("Put RATE in a new config.py, set to 0.25, imported by a.py and b.py instead of their own.")
    assert out.status == "done", out.summary
    assert not any(len(r.messages) == 2 for r in backend.requests[1:] if "sparkcode" in r.messages[0]["content"])


def test_a_rewrite_that_fails_fewer_tests_is_progress_not_a_stalled_round(tmp_path):
    wrong = py("stats.py", "def mean(xs):\n    return -1\n")  # fails both tests
    closer = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")  # fails the empty case only
    same_again = py("stats.py", "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n")
    a, backend = make(tmp_path, [wrong, TESTS, closer, "KEEP", same_again, FIXED], fresh_after=2)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    # two repair rounds on the same file, but the first failed fewer tests: no fresh start threw it away
    assert not any(len(r.messages) == 2 for r in backend.requests[1:] if "sparkcode" in r.messages[0]["content"])
    assert len(out.turns) == 4


def test_a_first_reply_that_rewrites_the_file_unchanged_is_what_the_next_change_is_measured_against(tmp_path):
    original = "def mean(xs):\n    return -1\n"  # fails both tests
    closer = py("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")  # fails the empty case only
    a, backend = make(tmp_path, [py("stats.py", original), TESTS, closer, "KEEP", FIXED], files={"stats.py": original},
                      fresh_after=2)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    assert not any(len(r.messages) == 2 for r in backend.requests[1:] if "sparkcode" in r.messages[0]["content"])


TIP_TASK = ('Make tip.html: an input with id "bill", a button with id "calculate"; clicking it shows the 15% tip '
            'in the element with id "tip" with two decimals: a bill of 40 gives tip "6.00".')


def tip_page(expr: str) -> str:
    return ("FILE: tip.html\n```html\n<!DOCTYPE html><html><body><input id=\"bill\" type=\"number\">"
            "<button id=\"calculate\">Go</button><span id=\"tip\"></span><script>\n"
            "document.getElementById('calculate').onclick = () => {\n"
            "  const bill = parseFloat(document.getElementById('bill').value);\n"
            f"  document.getElementById('tip').textContent = {expr};\n}};\n</script></body></html>\n```")


PAGE_TESTS = py("t.py", "def test_a_bill_of_40_gives_a_tip_of_6(open_page):\n    page = open_page(\"tip.html\")\n"
                        "    page.fill(\"#bill\", \"40\")\n    page.click(\"#calculate\")\n"
                        "    assert page.inner_text(\"#tip\") == \"6.00\"\n")


@pytest.mark.skipif(not browser_check.available(), reason="needs playwright and Debian chromium")
def test_a_page_is_judged_by_acceptance_tests_that_play_it_in_chromium(tmp_path):
    wrong = tip_page("(bill * 0.15).toFixed(1)")  # "6.0": a page that loads and clicks fine
    right = tip_page("(bill * 0.15).toFixed(2)")
    a, backend = make(tmp_path, [wrong, PAGE_TESTS, right], max_fresh=0)
    out = a.run(TIP_TASK)
    assert out.status == "done", out.summary
    writer = backend.requests[1].messages[-1]["content"]
    assert "open_page" in writer and "#bill (input)" in writer and "toFixed" not in writer  # names, never code
    feedback = backend.requests[2].messages[-1]["content"]
    assert "'6.0' == '6.00'" in feedback or "6.0" in feedback and "test_a_bill_of_40" in feedback
    assert any(c["path"].endswith("test_task.py") and c["ok"] and c["behavioural"] for c in out.checks)


@pytest.mark.skipif(not browser_check.available(), reason="needs playwright and Debian chromium")
def test_a_page_that_throws_fails_its_acceptance_test_even_when_the_value_is_right(tmp_path):
    throws = tip_page("(bill * 0.15).toFixed(2); undefinedFunction()")
    a, backend = make(tmp_path, [throws, PAGE_TESTS], max_fresh=0, repair_rounds=0)
    out = a.run(TIP_TASK)
    assert out.status != "done"
    assert any("undefinedFunction" in c["message"] for c in out.checks if not c["ok"])


def test_a_fixture_a_test_uses_without_declaring_it_is_declared():
    from sparkcode.agent.acceptance import declare_fixtures

    src = ('def test_tip():\n    page = open_page("tip.html")\n    assert page\n\n\n'
           'def test_file(tmp_path):\n    p = open_page("a.html")\n    (tmp_path / "x").write_text("")\n\n\n'
           'def test_plain():\n    assert 1\n')
    out = declare_fixtures(src)
    assert "def test_tip(open_page):" in out and "def test_file(open_page, tmp_path):" in out
    assert "def test_plain():" in out


def test_tests_that_import_a_module_that_exists_nowhere_are_not_used(tmp_path):
    from sparkcode.agent.acceptance import tests_the_workspace

    (tmp_path / "tip.html").write_text("<html></html>")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "util.py").write_text("x = 1\n")
    ws = Workspace(tmp_path)
    made_up = 'from text import tip\n\n\ndef test_tip(open_page):\n    open_page("tip.html")\n'
    assert "text" in tests_the_workspace(made_up, ws, "Make tip.html")
    assert tests_the_workspace(made_up, ws, "Write text.py with tip() and tip.html") == ""  # named by the task
    fine = 'import json\nfrom pkg import util\n\n\ndef test_u():\n    assert util.x == 1\n'
    assert tests_the_workspace(fine, ws, "") == ""


@pytest.mark.skipif(not browser_check.available(), reason="needs playwright and Debian chromium")
def test_a_test_in_pytest_playwrights_habit_gets_the_workspaces_page(tmp_path):
    habit = py("t.py", "def test_tip(page):\n    page.goto(\"tip.html\")\n    page.fill(\"#bill\", \"40\")\n"
                       "    page.click(\"#calculate\")\n    assert page.inner_text(\"#tip\") == \"6.00\"\n")
    a, _ = make(tmp_path, [tip_page("(bill * 0.15).toFixed(2)"), habit], max_fresh=0)
    out = a.run(TIP_TASK)
    assert out.status == "done", out.summary


def test_a_rename_the_model_did_by_halves_is_finished_without_a_model(tmp_path):
    files = {"utils.py": "def calc_total(xs):\n    return sum(xs)\n",
             "report.py": "import utils\n\n\ndef report(xs):\n    # uses calc_total\n    return utils.calc_total(xs)\n"}
    half = py("utils.py", "def compute_total(xs):\n    return sum(xs)\n\n\ncalc_total = compute_total\n")
    a, _ = make(tmp_path, [half, py("t.py", "from report import report\n\n\ndef test_r():\n    assert report([1, 2]) == 3\n")],
                files, max_fresh=0)
    out = a.run("Rename calc_total to compute_total everywhere in this project.")
    assert out.status == "done", out.summary
    assert "calc_total" not in (a.ws.root / "report.py").read_text() + (a.ws.root / "utils.py").read_text()
    assert "compute_total = compute_total" not in (a.ws.root / "utils.py").read_text()
    assert "utils.compute_total(xs)" in (a.ws.root / "report.py").read_text()


def test_a_tool_the_model_defines_in_the_program_is_removed(tmp_path):
    leaked = py("stats.py", "def mean(xs):\n    if not xs:\n        return 0\n    return sum(xs) / len(xs)\n\n\n"
                            "def finish(summary):\n    print(summary)\n\n\nfinish('done')\n")
    a, backend = make(tmp_path, [leaked, TESTS])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    code = (a.ws.root / "stats.py").read_text()
    assert "finish" not in code and "def mean(xs):" in code
    assert "def finish" not in backend.requests[1].messages[-1]["content"]  # the test writer never sees it


def test_a_page_calling_an_agent_action_it_never_defines_loses_that_call(tmp_path):
    from sparkcode.agent.leaks import drop_tool_functions

    page = ("<canvas id=c></canvas><script>\nfunction over() {\n  showOnPageMessage('Game Over!');\n"
            "  finish('Game Over!');\n  game.finish();\n}\n</script>")  # measured: the README run at 1eeeef4
    (tmp_path / "snake.html").write_text(page)
    ws = Workspace(tmp_path)
    notes = drop_tool_functions(ws, ["snake.html"], "build a snake game in one HTML file")
    out = (tmp_path / "snake.html").read_text()
    assert "finish('Game Over!')" not in out and "game.finish();" in out and "showOnPageMessage('Game Over!');" in out
    assert notes and "finish" in notes[0]
    (tmp_path / "race.html").write_text("<script>\nfunction finish(t) { return t; }\nfinish(1);\n</script>")
    assert drop_tool_functions(ws, ["race.html"], "a race page") == []  # defined by the page: its own function
    (tmp_path / "race.html").unlink()
    (tmp_path / "snake.html").write_text(page)
    assert drop_tool_functions(ws, ["snake.html"], "a game whose finish() ends the round") == []  # the task names it


def test_a_function_the_task_names_like_a_tool_stays(tmp_path):
    from sparkcode.agent.leaks import drop_tool_functions

    (tmp_path / "race.py").write_text("def finish(t):\n    return t\n\n\ndef search(x):\n    return x\n\n\nprint(search(1))\n")
    ws = Workspace(tmp_path)
    assert drop_tool_functions(ws, ["race.py"], "Write race.py with finish(t) that returns t.") == []
    assert "def finish" in (tmp_path / "race.py").read_text() and "def search" in (tmp_path / "race.py").read_text()


def test_an_unused_made_up_import_is_dropped_from_the_tests(tmp_path):
    from sparkcode.agent.acceptance import drop_unused_made_up_imports

    (tmp_path / "tip.html").write_text("<html></html>")
    ws = Workspace(tmp_path)
    src = ('import pytest\nfrom text import tip\nimport madeup\n\n\ndef test_tip(open_page):\n'
           '    page = open_page("tip.html")\n    assert madeup.x\n')
    out = drop_unused_made_up_imports(src, ws, "Make tip.html")
    assert "from text import tip" not in out and "import madeup" in out and "import pytest" in out


def test_runaway_turns_in_a_row_never_rewind_past_the_task(tmp_path):
    loop = "FILE: x.py\n```python\n" + "elif x == 1:\n    y = 2\n" * 200
    a, backend = make(tmp_path, [lambda r: loop, lambda r: loop, FIXED, TESTS])
    out = a.run(TASK)
    assert out.status == "done", out.summary
    third = backend.requests[2].messages
    assert any(TASK in m["content"] for m in third if m["role"] == "user")  # measured: only the system prompt was left


def test_a_version_whose_tests_do_not_load_is_not_kept_over_one_that_fails_them(tmp_path):
    broken = py("stats.py", "import no_such_module\n\n\ndef mean(xs):\n    return 0\n")  # the tests cannot even import it
    a, _ = make(tmp_path, [BUGGY, TESTS, broken], max_turns=2, max_fresh=0)
    out = a.run(TASK)  # BUGGY fails the empty-list tests only; every test of a file that does not load fails
    assert out.status == "max_turns" and "kept the version of turn 1" in out.summary
    assert "sum(xs) / len(xs)" in (a.ws.root / "stats.py").read_text()


def test_a_fresh_attempt_is_told_the_failing_tests_in_a_line_each_without_their_code_or_path(tmp_path):
    v = [BUGGY.replace("len(xs)\n", f"(len(xs) + 0 * {i})\n") for i in range(3)]
    a, backend = make(tmp_path, [v[0], TESTS, v[1], "KEEP", v[2], FIXED], fresh_after=2)
    out = a.run(TASK)
    assert out.status == "done", out.summary
    fresh = next(r.messages[1]["content"] for r in backend.requests if "earlier attempt" in r.messages[1]["content"])
    assert "test_empty: ZeroDivisionError" in fresh
    assert ".sparkcode" not in fresh and "assert mean([]) == 0" not in fresh


def test_brief_names_each_failing_test_with_its_first_error_line():
    from sparkcode.agent.pytest_report import brief

    report = ("F.E\n=== FAILURES ===\n___________ test_sum ___________\nt.py:3: in test_sum\n    assert s() == 2\n"
              "E   assert 1 == 2\n___________ ERROR at setup of test_page ___________\nE   Failed: no page\n")
    assert brief(report) == ["test_sum: assert 1 == 2", "test_page: Failed: no page"]


def test_a_reply_that_starts_writing_the_agents_own_state_is_cut():
    g = RepetitionGuard()
    assert not g.feed("FILE: stats.py\n```python\nx = 1\n```\n")
    assert g.feed("FILE: .sparkcode/acceptance/test_task.py\n") and ".sparkcode" in g.why
    assert not RepetitionGuard().feed("FILE: ./sparkcode/engine.py\n")  # a project folder named sparkcode is fine


def test_pytest_raises_around_a_child_process_becomes_a_failing_exit_status():
    from sparkcode.agent.acceptance import fix_raises_around_a_child

    src = ("def test_bad():\n    with pytest.raises(SystemExit):\n"
           "        subprocess.run([sys.executable, 'sort.py', '-x'], capture_output=True)\n\n\n"
           "def test_bad2():\n    with pytest.raises(ValueError):\n        r = subprocess.run(['x'])\n    assert r\n\n\n"
           "def test_ok():\n    with pytest.raises(subprocess.CalledProcessError):\n"
           "        subprocess.run(['x'], check=True)\n    with pytest.raises(ValueError):\n        parse('x')\n")
    out = fix_raises_around_a_child(src)
    assert "_result = subprocess.run([sys.executable, 'sort.py', '-x'], capture_output=True)\n" in out
    assert "    assert _result.returncode != 0\n" in out
    assert "    r = subprocess.run(['x'])\n    assert r.returncode != 0\n    assert r\n" in out
    assert "pytest.raises(subprocess.CalledProcessError)" in out and "pytest.raises(ValueError):\n        parse" in out
    compile(out, "t.py", "exec")
    # with `as excinfo`, a later `excinfo.value.code` is the child's exit status; any other use is left alone
    src = ("def test_missing():\n    with pytest.raises(SystemExit) as excinfo:\n"
           "        subprocess.run(['python', 'todo.py', 'done', '1'], capture_output=True, text=True)\n"
           "    assert excinfo.value.code == 1\n\n\n"
           "def test_other():\n    with pytest.raises(SystemExit) as e:\n        subprocess.run(['x'])\n"
           "    assert 'usage' in str(e.value)\n")
    out = fix_raises_around_a_child(src)
    assert ("    _result = subprocess.run(['python', 'todo.py', 'done', '1'], capture_output=True, text=True)\n"
            "    assert _result.returncode == 1\n") in out  # the status it names says which failure it means
    assert "with pytest.raises(SystemExit) as e:" in out and "excinfo" not in out
    compile(out, "t.py", "exec")
    # a run with neither check nor timeout cannot raise CalledProcessError either; what the test reads of
    # the error (its exit status, its stderr) is read from the run
    src = ("def test_unknown_id():\n    with pytest.raises(subprocess.CalledProcessError) as e:\n"
           "        subprocess.run(['python', 'todo.py', 'done', '9'], capture_output=True, text=True)\n"
           "    assert e.returncode == 1\n    assert e.value.stderr\n")
    out = fix_raises_around_a_child(src)
    assert ("    _result = subprocess.run(['python', 'todo.py', 'done', '9'], capture_output=True, text=True)\n"
            "    assert _result.returncode == 1\n    assert _result.stderr\n") in out
    # SystemExit with code 0 (a --help) is a run that exits 0, not `!= 0` and `== 0`, which no program passes
    src = ("def test_help():\n    with pytest.raises(SystemExit) as excinfo:\n"
           "        subprocess.run(['python', 'sortlines.py', '--help'], capture_output=True, text=True)\n"
           "    assert excinfo.value.code == 0\n")
    out = fix_raises_around_a_child(src)
    assert "!= 0" not in out and "    assert _result.returncode == 0\n" in out


CONVERT = py("convert.py", "import argparse\n\n\ndef main():\n    p = argparse.ArgumentParser()\n"
                           "    p.add_argument('cmd', choices=['c2f', 'f2c'])\n    p.add_argument('value', type=float)\n"
                           "    a = p.parse_args()\n    v = a.value * 9 / 5 + 32 if a.cmd == 'c2f' else (a.value - 32) * 5 / 9\n"
                           "    print(f'{v:.1f}')\n\n\nif __name__ == '__main__':\n    main()\n")


def test_a_test_that_only_a_failed_start_of_python_can_pass_is_dropped_and_the_run_is_done(tmp_path):
    # measured: four runs of a correct converter ended "unverified" on this test, kept at review
    tests = py("t.py", "def test_c2f():\n    r = subprocess.run(['python', 'convert.py', 'c2f', '100'], "
                       "capture_output=True, text=True)\n    assert r.stdout == '212.0\\n'\n\n\n"
                       "def test_file_not_found():\n    with pytest.raises(FileNotFoundError):\n"
                       "        r = subprocess.run(['python', 'convert.py', 'c2f', '100'], capture_output=True, check=True)\n\n\n"
                       "def test_bad_value():\n    with pytest.raises(OSError):\n"
                       "        subprocess.run(['python', 'convert.py', 'c2f', 'x'], timeout=5)\n"
                       "    r = subprocess.run(['python', 'convert.py', 'c2f', 'x'], capture_output=True)\n"
                       "    assert r.returncode == 2\n")
    a, backend = make(tmp_path, [CONVERT, tests], max_turns=1, max_fresh=0)
    out = a.run("Write convert.py: `python convert.py c2f 100` prints 212.0; a value that is not a number exits "
                "with status 2.")
    assert out.status == "done", out.summary
    # a program's test writer is shown a program's tests, not a module's imports
    assert backend.requests[1].messages[0]["content"] == prompts.acceptance_system("programs")
    kept = (a.ws.root / TEST_PATH).read_text()
    assert "test_file_not_found" not in kept and "OSError" not in kept
    assert "def test_c2f" in kept and "returncode == 2" in kept


REFACTOR_FILES = {"utils.py": "def calc_total(xs):\n    return round(sum(xs), 2)\n",
                  "report.py": "import utils\n\n\ndef report(orders):\n    return [f'{k}: {utils.calc_total(v)}' "
                               "for k, v in sorted(orders.items())]\n"}
REFACTOR_TASK = "Rename calc_total to compute_total everywhere; everything should work the same as before."
REFACTOR_TESTS = py("t.py", "from report import report\nfrom utils import compute_total\n\n\n"
                            "def test_wrong():\n    assert report([1, 2]) == 3\n\n\n"  # the original fails it too
                            "def test_sorted():\n    assert report({'b': [1], 'a': [2]}) == ['a: 2', 'b: 1']\n")
UNSORTED = py("report.py", "import utils\n\n\ndef report(orders):\n    return [f'{k}: {utils.compute_total(v)}' "
                           "for k, v in orders.items()]\n")
SORTED = py("report.py", "import utils\n\n\ndef report(orders):\n    return [f'{k}: {utils.compute_total(v)}' "
                         "for k, v in sorted(orders.items())]\n")


def test_a_refactors_test_that_the_original_code_fails_is_asked_for_again_and_else_set_aside(tmp_path):
    a, backend = make(tmp_path, [UNSORTED, REFACTOR_TESTS, "KEEP", SORTED], REFACTOR_FILES, max_fresh=0)
    out = a.run(REFACTOR_TASK)
    # test_sorted (the original passes it) was obeyed until fixed; test_wrong was shown to the writer with the
    # original's failure, kept, and set aside: the run says what is not verified instead of "done"
    assert "sorted(orders.items())" in (a.ws.root / "report.py").read_text()
    assert "ORIGINAL code" in backend.requests[2].messages[-1]["content"]
    assert "test_sorted" in backend.requests[3].messages[-1]["content"]
    assert out.status == "unverified" and "test_wrong" in out.summary and "original code" in out.summary


def test_a_refactors_test_rewritten_to_what_the_original_does_verifies_the_run(tmp_path):
    rewritten = py("t.py", "from report import report\n\n\ndef test_one_order():\n"
                           "    assert report({'a': [1]}) == ['a: 1']\n\n\n"
                           "def test_sorted():\n    assert report({'b': [1], 'a': [2]}) == ['a: 2', 'b: 1']\n")
    a, _ = make(tmp_path, [UNSORTED, REFACTOR_TESTS, rewritten, SORTED], REFACTOR_FILES, max_fresh=0)
    out = a.run(REFACTOR_TASK)
    assert out.status == "done", out.summary


def test_a_features_new_tests_are_never_set_aside_by_the_original():
    from sparkcode.agent.acceptance import preserves_behaviour, pure_refactor

    task = "Add -r/--reverse to sortlines.py. Without it it should work exactly as before."
    assert preserves_behaviour(task) and not pure_refactor(task)
    assert pure_refactor("Move the email check into validators.py; register() must behave exactly as before.")


SORTLINES = ("import argparse\nimport sys\n\n\ndef main(argv=None):\n    parser = argparse.ArgumentParser()\n"
             "    parser.add_argument('file')\n{options}    args = parser.parse_args(argv)\n"
             "    with open(args.file) as f:\n        lines = f.read().splitlines()\n{body}"
             "    for line in lines:\n        print(line)\n    return 0\n\n\n"
             "if __name__ == '__main__':\n    sys.exit(main())\n")


def test_a_features_test_of_what_was_there_before_that_the_original_fails_is_asked_for_again(tmp_path):
    """Measured: the writer held `sortlines.py in.txt` to "a\\nb" for the lines a, b, a (the original
    prints a, a, b), and the -r code that passed such tests had lost its sorting."""
    original = SORTLINES.format(options="", body="    lines = sorted(lines)\n")
    option = "    parser.add_argument('-r', '--reverse', action='store_true')\n"
    unsorted = py("sortlines.py", SORTLINES.format(options=option, body="    if args.reverse:\n"
                                                   "        lines = lines[::-1]\n"))
    fixed = py("sortlines.py", SORTLINES.format(options=option, body="    lines = sorted(lines, reverse=args.reverse)\n"))
    run = ("import subprocess\nimport sys\n\n\ndef out(tmp_path, *flags):\n    p = tmp_path / 'in.txt'\n"
           "    p.write_text('a\\nb\\na\\n')\n    return subprocess.run([sys.executable, 'sortlines.py', *flags, str(p)], "
           "capture_output=True, text=True).stdout.split()\n\n\n")
    wrong = py("t.py", run + "def test_default(tmp_path):\n    assert out(tmp_path) == ['a', 'b']\n\n\n"
                             "def test_reverse(tmp_path):\n    assert out(tmp_path, '-r') == ['b', 'a', 'a']\n")
    right = py("t.py", run + "def test_default(tmp_path):\n    assert out(tmp_path) == ['a', 'a', 'b']\n\n\n"
                             "def test_reverse(tmp_path):\n    assert out(tmp_path, '-r') == ['b', 'a', 'a']\n")
    a, backend = make(tmp_path, [unsorted, wrong, right, fixed], files={"sortlines.py": original}, max_fresh=0)
    out = a.run("Add -r/--reverse to sortlines.py: it prints the lines in reverse sorted order. Without it it "
                "should work exactly as before.")
    assert out.status == "done", out.summary
    assert "ORIGINAL code" in backend.requests[2].messages[-1]["content"]  # test_default was asked for again
    assert "test_default" in backend.requests[2].messages[-1]["content"]
    assert "sorted(lines" in (a.ws.root / "sortlines.py").read_text()


def test_tests_that_cannot_import_a_name_the_task_states_fail_the_code_not_pass_it(tmp_path):
    task = "Add median(xs) to stats.py next to mean(xs)."
    tests = py("t.py", "from stats import median\n\n\ndef test_median():\n    assert median([1, 2, 3]) == 2\n")
    mean = "def mean(xs):\n    return sum(xs) / len(xs)\n"  # the file as it was: mean is only mentioned
    a, _ = make(tmp_path, [py("stats.py", mean + "\n\n# median: later\n"), tests], files={"stats.py": mean},
                max_turns=1, max_fresh=0)
    out = a.run(task)
    assert out.status == "max_turns"
    assert any(c["path"] == TEST_PATH and not c["ok"] for c in out.checks)


def test_review_fixes_leave_real_programs_alone(tmp_path):
    from sparkcode.agent.acceptance import fix_raises_around_a_child, pure_refactor
    from sparkcode.agent.leaks import drop_tool_functions
    from sparkcode.agent.pytest_report import brief
    from sparkcode.agent.rename import finish_renames

    ws = Workspace(tmp_path)
    (tmp_path / "hello.py").write_text("def finish(s):\n    print(s)\n\n\nfinish('hello')\n")  # the whole program
    (tmp_path / "app.py").write_text("def run():\n    return 1\n\n\nrun()\n")
    assert drop_tool_functions(ws, ["hello.py", "app.py"], "print hello") == []
    (tmp_path / "load.py").write_text("def load(data):\n    return response.data\n")
    assert finish_renames(ws, "Rename the parameter `data` to `rows` in load().") == []  # a plain word: not touched
    (tmp_path / "u.py").write_text("def calc_total(x):\n    return x\n")
    assert finish_renames(ws, "Rename calc_total to compute_total but keep calc_total as an alias.") == []
    src = ("def test_t():\n    with pytest.raises(subprocess.TimeoutExpired):\n        subprocess.run(['x'], timeout=1)\n"
           "    with pytest.raises(SystemExit) as e:\n        subprocess.run(['x'])\n    assert 'usage' in str(e.value)\n"
           "    with pytest.raises(SystemExit):\n        subprocess.check_output(['x'])\n")
    assert fix_raises_around_a_child(src) == src  # a timeout, an `as` read for more than its exit code, check_output
    assert not pure_refactor("Extract validate(); it should behave the same, except negative amounts now raise.")
    assert brief("___________ ERROR at teardown of test_page ___________\nE   Failed: the page threw: x\n") == \
        ["test_page: Failed: the page threw: x"]


def test_a_test_demanding_an_error_the_task_never_speaks_of_is_dropped(tmp_path):
    code = py("words.py", "def count_words(text):\n    out = {}\n    for w in text.lower().split():\n"
                          "        out[w] = out.get(w, 0) + 1\n    return out\n")
    tests = py("t.py", "import pytest\nfrom words import count_words\n\n\ndef test_case():\n"
                       "    assert count_words('A a b') == {'a': 2, 'b': 1}\n\n\ndef test_empty():\n"
                       "    with pytest.raises(ValueError):\n        count_words('')\n")
    task = "Write words.py with count_words(text): how often each word occurs, in lowercase."
    a, backend = make(tmp_path, [code, tests])
    out = a.run(task)
    assert out.status == "done", out.summary
    text = (a.ws.root / TEST_PATH).read_text()
    assert "def test_case" in text and "test_empty" not in text and "raises" not in text
    # the same demand stays when the task speaks of errors
    (tmp_path / "again").mkdir()
    a, backend = make(tmp_path / "again", [code, tests, "KEEP"], max_turns=1, max_fresh=0)
    out = a.run(task + " An empty text is an error.")
    assert out.status != "done" and "pytest.raises(ValueError)" in (a.ws.root / TEST_PATH).read_text()


def test_tests_with_a_dict_that_repeats_a_key_are_written_again(tmp_path):
    code = py("words.py", "def count_words(text):\n    out = {}\n    for w in text.lower().split():\n"
                          "        out[w] = out.get(w, 0) + 1\n    return out\n")
    merged = py("t.py", "from words import count_words\n\n\ndef test_case():\n"
                        "    assert count_words('The the cat') == {'the': 2, 'cat': 1, 'the': 1}\n")
    good = py("t.py", "from words import count_words\n\n\ndef test_case():\n"
                      "    assert count_words('The the cat') == {'the': 2, 'cat': 1}\n")
    a, backend = make(tmp_path, [code, merged, good])
    out = a.run("Write words.py with count_words(text): how often each word occurs, in lowercase.")
    assert out.status == "done", out.summary
    retry = backend.requests[2].messages
    assert "the key 'the' more than once" in retry[-1]["content"]
    assert backend.requests[1].sampling.temperature == 0 and backend.requests[2].sampling.temperature > 0  # sampled
    # asked afresh: the refused reply is not in view (sampled with it in view, the 1.5B copied it)
    assert [m["role"] for m in retry] == ["system", "user"] and "'cat': 1, 'the': 1" not in retry[-1]["content"]
    assert retry[-1]["content"].startswith(backend.requests[1].messages[-1]["content"])


def test_only_the_asserts_with_a_dict_that_repeats_a_key_are_dropped_the_right_tests_stay(tmp_path):
    """Measured: fix-word-count's writer put one such dict beside a right test of "don't" in both its
    files; refused whole, the run ended with no tests and a counter that splits "don't"."""
    splits = py("words.py", "import re\n\n\ndef count_words(text):\n    out = {}\n"
                            "    for w in re.findall(r\"[a-z]+\", text.lower()):\n        out[w] = out.get(w, 0) + 1\n"
                            "    return out\n")
    keeps = splits.replace("[a-z]+", "[a-z']+")
    tests = py("t.py", "from words import count_words\n\n\ndef test_merged():\n"
                       "    assert count_words('The the cat') == {'the': 2, 'cat': 1, 'the': 1}\n\n\n"
                       "def test_apostrophe():\n    assert count_words(\"Don't stop\") == {\"don't\": 1, 'stop': 1}\n")
    a, backend = make(tmp_path, [splits, tests, keeps])
    out = a.run("Fix count_words in words.py: lowercase words, and an apostrophe inside a word is part of it.")
    assert out.status == "done", out.summary
    assert len(backend.requests) == 3  # no second writer's reply: the file was used
    text = (a.ws.root / TEST_PATH).read_text()
    assert "def test_apostrophe" in text and "test_merged" not in text
    assert "don't" in backend.requests[2].messages[-1]["content"]  # the kept test's failure went back
    # a value the task states that only a dropped test tried is asked for again
    (tmp_path / "quoted").mkdir()
    cover = py("t.py", "from words import count_words\n\n\ndef test_the_example():\n"
                       "    assert count_words('The the cat') == {'the': 2, 'cat': 1}\n")
    a, backend = make(tmp_path / "quoted", [keeps, tests, cover])
    out = a.run('Fix count_words in words.py: count_words("The the cat") gives {"the": 2, "cat": 1}, and an '
                "apostrophe inside a word is part of it.")
    assert out.status == "done", out.summary
    assert '"The the cat"' in backend.requests[2].messages[-1]["content"]  # the cover request
    text = (a.ws.root / TEST_PATH).read_text()
    assert "def test_apostrophe" in text and "def test_the_example" in text and "test_merged" not in text


@pytest.mark.model
def test_the_test_writers_grammar_holds_a_real_model_to_a_test_file(qwen05):
    """Asked outright for the module, the 0.5B under `TEST_FILE` still replies with a test file:
    one python block, imports, then `def test_` first (the 1.5B wrote the module itself in 4 test-
    writing replies of a bench tasks run); a review under `TEST_FILE_OR_KEEP` may answer KEEP."""
    from sparkcode.agent.acceptance import parse_tests
    from sparkcode.backends.base import ChatRequest, collect
    from sparkcode.backends.local import LocalBackend

    backend = LocalBackend(qwen05)
    ask = [{"role": "user", "content": "Write rle.py: encode(text) run-length encodes a string, "
                                       "encode('aaab') == '3a1b'. Reply with the code of rle.py."}]
    reply = collect(backend, ChatRequest(ask, max_tokens=160, constraint=TEST_FILE, keep_cache=True)).text
    assert reply.startswith("```python\n"), reply
    code = reply.removeprefix("```python\n")
    first_def = code[code.index("def "):]
    assert first_def.startswith("def test_"), reply
    assert all(ln.startswith(("import ", "from ", "#", "@")) or not ln.strip()
               for ln in code[:code.index("def ")].splitlines()), reply
    if reply.rstrip().endswith("```"):  # finished inside the budget: a file pytest can use
        assert parse_tests(reply)[0] is not None
    keep = [{"role": "user", "content": "Are these tests right? Reply with the single word KEEP.\n"
                                        "def test_x():\n    assert 1 + 1 == 2"}]
    said = collect(backend, ChatRequest(keep, max_tokens=8, constraint=TEST_FILE_OR_KEEP, keep_cache=True)).text
    assert said.startswith(("KEEP", "```python\n")), said


def test_tests_that_call_workspace_functions_without_importing_them_get_the_import(tmp_path):
    """Held to a test file, the 1.5B wrote rle's tests calling encode() with no import: the import
    a single workspace module provides is added (imports.py, as for the code), not the tests refused."""
    no_import = py("t.py", "import pytest\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
                           "def test_empty():\n    assert mean([]) == 0\n")
    a, backend = make(tmp_path, [BUGGY, no_import, FIXED])
    out = a.run(TASK)
    assert out.status == "done" and len(backend.requests) == 3, out.summary
    assert "from stats import mean" in (a.ws.root / TEST_PATH).read_text()


def test_turns_are_counted_per_attempt_a_fresh_start_gets_its_own(tmp_path):
    # measured: fix-shared-cart used its 8 turns (rewinds and a fresh start among them) in 103 s of a
    # 300 s budget; the limit is per attempt, so the attempt after a failed one is not cut short
    a, backend = make(tmp_path, [BUGGY, TESTS, FIXED], max_turns=1, max_fresh=1)
    out = a.run(TASK)
    assert out.status == "done" and len(out.turns) == 2, out.summary
    from sparkcode.agent.session import Session
    fresh = [e for e in Session.latest(a.ws.root).events() if e["type"] == "fresh_start"]
    assert [(e["attempt"], e["why"]) for e in fresh] == [(2, "1 turns used")]
    # the fresh attempt began from the task again, not from the failed attempt's conversation
    assert backend.requests[2].messages[-1]["content"].startswith("Task:")
    # with no fresh start left, the limit ends the run
    (tmp_path / "b").mkdir()
    b, _ = make(tmp_path / "b", [BUGGY, TESTS], max_turns=1, max_fresh=0)
    out = b.run(TASK)
    assert out.status == "max_turns" and "stopped after 1 turns (1 in the last attempt)" in out.summary, out.summary


def test_the_wall_time_limit_cuts_the_test_writer_too(tmp_path):
    # measured: the writer's second generation ran from 279 s to 360 s of a 300 s run (cli-todo)
    import time as _time

    def slow_writer(request):
        _time.sleep(0.6)
        return TESTS

    a, _ = make(tmp_path, [BUGGY, slow_writer], wall_limit_s=0.5)
    t0 = _time.perf_counter()
    out = a.run(TASK)
    assert out.status == "timeout" and "reached during a turn" in out.summary, out.summary
    assert _time.perf_counter() - t0 < 5
    assert not (a.ws.root / TEST_PATH).exists()  # the cut reply is not used


def test_the_test_writers_example_is_a_program_for_a_command_line_a_module_for_calls(tmp_path):
    from sparkcode.agent.acceptance import what_is_tested
    from sparkcode.agent.verify import VerifyContext

    ws = Workspace(tmp_path)
    (tmp_path / "sortlines.py").write_text("import sys\n\nif __name__ == '__main__':\n    print(sys.argv)\n")
    kind = lambda task: what_is_tested(VerifyContext(ws, task, [], []))  # noqa: E731
    assert kind("Add -r/--reverse to sortlines.py; a missing file exits with status 1.") == "programs"
    assert kind("`python sortlines.py in.txt` prints them sorted; keep sort_lines(xs) as it is.") == "programs"
    assert kind("Add sort_lines(xs) to sortlines.py, which returns xs sorted.") == "modules"  # a __main__ guard too
    (tmp_path / "sortlines.py").write_text("def sort_lines(xs):\n    return sorted(xs)\n")
    assert kind("Add -r/--reverse to sortlines.py.") == "modules"  # nothing runs as a program
    (tmp_path / "sortlines.py").unlink()
    (tmp_path / "index.html").write_text("<p id='x'></p>")
    assert kind("Make a counter page.") == "pages"
    for k in ("programs", "modules", "pages"):
        assert "from text import" not in prompts.acceptance_system(k) or k == "modules"
    assert "count.py" in prompts.acceptance_system("programs") and "open_page" in prompts.acceptance_system("pages")


def test_a_run_whose_model_keeps_a_shared_default_list_ends_done(tmp_path):
    buggy = "class Cart:\n    def __init__(self, items=[]):\n        self.items = items\n\n    def add(self, item):\n" \
            "        self.items.append(item)\n"
    tests = py("t.py", "from cart import Cart\n\n\ndef test_own_lists():\n    a, b = Cart(), Cart()\n    a.add('apple')\n"
                       "    assert b.items == []\n\n\ndef test_start():\n    assert Cart(['pear']).items == ['pear']\n")
    rewritten = buggy + "\n    def count(self):\n        return len(self.items)\n"  # the bug copied into a new version
    a, _ = make(tmp_path, [py("cart.py", rewritten), tests], files={"cart.py": buggy}, max_turns=1, max_fresh=0)
    out = a.run("Bug in cart.py: two carts share their items. Every cart must have its own list.")
    assert out.status == "done", out.summary
    assert "items=None" in (a.ws.root / "cart.py").read_text()
