"""The HumanEval quality benchmark: the sandbox for generated code (escapes contained), code and
example extraction, judging, the repair loop (scripted model), the CLI, and a real 0.5B run."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sparkcode import cli
from sparkcode.agent.shell import group_members
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.bench import quality as Q
from sparkcode.bench.sandbox import landlock_abi, run_python
from sparkcode.profiles import BUILTIN, Profile

ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI < 1, reason="no Landlock on this kernel: the sandbox cannot block writes "
                                                    "outside its folder here (it is not a jail)")

ADD = Q.Problem(
    task_id="Test/0",
    prompt='from typing import List\n\n\ndef helper(x: int) -> int:\n    return x\n\n\n'
           'def add_all(xs: List[int]) -> int:\n    """ Sum the numbers.\n    >>> add_all([1, 2])\n    3\n'
           '    >>> add_all([])\n    0\n    add_all([5]) ==> 5\n    """\n',
    entry_point="add_all",
    test="def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n",
)
GOOD = "def add_all(xs: List[int]) -> int:\n    return sum(helper(x) for x in xs)\n"
WRONG = "def add_all(xs):\n    return len(xs)\n"


# -- the sandbox ------------------------------------------------------------------------------------

@needs_landlock
def test_write_outside_the_temp_folder_is_refused():
    target = Path(tempfile.gettempdir()) / f"sparkcode-escape-{os.getpid()}-{time.monotonic_ns()}"
    home_target = Path.home() / f".sparkcode-escape-{os.getpid()}"
    code = (f"import os\n"
            f"for p in ({str(target)!r}, {str(home_target)!r}, '/etc/sparkcode-escape'):\n"
            f"    try:\n        open(p, 'w').write('escaped')\n        print('WROTE', p)\n"
            f"    except OSError as e:\n        print('refused', p, type(e).__name__)\n"
            f"try:\n    os.remove({str(Path(__file__).resolve())!r})\nexcept OSError as e:\n    print('refused rm', type(e).__name__)\n"
            f"try:\n    os.mkdir('/tmp/sparkcode-escape-dir')\nexcept OSError as e:\n    print('refused mkdir', type(e).__name__)\n")
    r = run_python(code)
    assert r.jail.startswith("landlock")
    assert "WROTE" not in r.output and r.output.count("refused") == 5, r.output
    assert not target.exists() and not home_target.exists() and Path(__file__).exists()
    assert not Path("/tmp/sparkcode-escape-dir").exists()


def test_writes_land_in_the_temp_folder_which_is_home_cwd_and_tmpdir():
    code = ("import os, tempfile\nopen('here.txt', 'w').write('x')\n"
            "open(os.path.expanduser('~/home.txt'), 'w').write('y')\n"
            "fd, p = tempfile.mkstemp()\nos.close(fd)\n"
            "print(os.getcwd()); print(os.environ['HOME']); print(os.path.dirname(p)); print(sorted(os.listdir('.')))")
    r = run_python(code)
    assert r.ok, r.output
    cwd, home, tmp, listing = r.output.strip().splitlines()
    assert cwd == home == tmp and Path(cwd).name.startswith("sparkcode-sandbox-")
    assert "here.txt" in listing and "home.txt" in listing
    assert not Path(cwd).exists()  # the folder is deleted afterwards


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("SECRET_API_TOKEN", "hunter2")
    r = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('SECRET_API_TOKEN'))")
    assert "hunter2" not in r.output and "SECRET_API_TOKEN" not in r.output


def test_endless_loop_is_killed_by_the_timeout():
    t0 = time.monotonic()
    r = run_python("while True:\n    pass\n", timeout=1)
    assert r.timed_out and r.killed == "timeout" and not r.ok
    assert time.monotonic() - t0 < 5
    assert group_members(r.pid) == []


def test_huge_allocation_fails_under_the_memory_limit():
    r = run_python("x = bytearray(4 << 30)\nprint('allocated')", memory_bytes=512 << 20)
    assert not r.ok and "MemoryError" in r.output and "allocated" not in r.output


def test_fork_bomb_is_contained():
    t0 = time.monotonic()
    r = run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", timeout=10)
    assert r.killed in ("processes", "timeout") and not r.ok
    assert time.monotonic() - t0 < 15
    deadline = time.monotonic() + 5
    while group_members(r.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(r.pid) == [], "fork bomb processes left running"


def test_output_is_capped():
    r = run_python("import sys\nfor _ in range(200):\n    sys.stdout.write('x' * (1 << 20))\n", max_output=4000)
    assert len(r.output) < 6000 and not r.ok and r.killed == "output"


@pytest.mark.skipif(ABI < 4, reason="TCP is only blocked with Landlock ABI >= 4 (no network jail otherwise)")
def test_tcp_connect_is_refused():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        r = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')")
    assert "connected" not in r.output and "PermissionError" in r.output


@pytest.mark.skipif(ABI < 6, reason="signal scoping needs Landlock ABI >= 6")
def test_cannot_signal_the_harness():
    r = run_python(f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)\nprint('sent')")
    assert "sent" not in r.output and "PermissionError" in r.output


# -- judging ------------------------------------------------------------------------------------------

def test_evaluate_passes_a_correct_program_and_fails_a_wrong_one():
    assert Q.evaluate(ADD.prompt + "\n" + GOOD, ADD) == (True, "")
    ok, why = Q.evaluate(ADD.prompt + "\n" + WRONG, ADD)
    assert not ok and "AssertionError" in why


def test_exiting_early_does_not_count_as_a_pass():
    for trick in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n"):
        ok, why = Q.evaluate(ADD.prompt + "\n" + GOOD + trick, ADD)
        assert not ok and "exited before the test ran" in why


def test_evaluate_reports_timeouts():
    ok, why = Q.evaluate(ADD.prompt + "\ndef add_all(xs):\n    while True:\n        pass\n", ADD, timeout=1)
    assert not ok and "timed out" in why


def test_canonical_solutions_pass_and_empty_ones_fail_on_real_problems():
    problems = Q.load_problems()
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    for i in (0, 10, 38, 50, 100):  # 10, 38 and 50 have helper functions in the prompt
        p = problems[i]
        assert Q.evaluate(p.prompt + p.canonical_solution, p) == (True, ""), p.task_id
        assert not Q.evaluate(p.prompt + "    return None\n", p)[0], p.task_id


# -- extraction -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply", [
    f"Here you go:\n```python\n{GOOD}```\nThis sums the list.",
    f"```\n{GOOD}```",
    f"```py\nimport math\n\n{GOOD}```",
    f"First a helper:\n```python\ndef unused():\n    pass\n```\nAnd the answer:\n```python\n{GOOD}```",
    f"Sure! Here is the implementation.\n\n{GOOD}\nIt returns the total.",
    GOOD,
    "    return sum(helper(x) for x in xs)\n",
    "return sum(helper(x) for x in xs)",
    f"```python\n{GOOD}\nif __name__ == '__main__':\n    print(add_all([int(input())]))\n```",
    f"```python\n{GOOD}\nassert add_all([1]) == 999\nprint(add_all([1, 2]))\n```",
    f"```python\n{GOOD}",  # unterminated fence (hit max_tokens)
    f"```python\nfrom typing import List\n\n@staticmethod\ndef deco(f):\n    return f\n\n{GOOD}```",
])
def test_extracted_programs_pass(reply):
    program = Q.extract_program(reply, ADD)
    assert Q.evaluate(program, ADD) == (True, ""), program


def test_extraction_keeps_prompt_imports_and_helpers():
    program = Q.extract_program("```python\ndef add_all(xs):\n    return sum(map(helper, xs))\n```", ADD)
    assert program.startswith(ADD.prompt.rstrip())
    assert "from typing import List" in program and "def helper" in program


def test_sanitize_keeps_definitions_only():
    code = "import os\nX = 1\nprint('hi')\n@dec\ndef f():\n    return X\nf()\nclass C:\n    pass\nif __name__ == '__main__':\n    f()\n"
    out = Q.sanitize(code)
    assert "print" not in out and "__main__" not in out and "f()\n" not in out.replace("def f():", "")
    assert "import os" in out and "X = 1" in out and "@dec\ndef f():" in out and "class C:" in out
    assert Q.sanitize("def broken(:\n") == "def broken(:\n"


def test_examples_extraction_formats():
    ex = Q.extract_examples(ADD)
    assert ex == [("add_all([1, 2])", 3), ("add_all([])", 0), ("add_all([5])", 5)]
    p = Q.Problem("T/1", 'def f(lst):\n    """\n    For lst = [1,2,3] the output should be 6\n    f([1, 3]) ➞ 4\n'
                  '    f([2]) == 1 + 1 = 2\n    f(a) => 3\n    f([9]) -> "x"\n    """\n', "f", "")
    assert Q.extract_examples(p) == [("f([1,2,3])", 6), ("f([1, 3])", 4), ("f([2])", 2), ("f([9])", "x")]
    problems = Q.load_problems()
    assert sum(bool(Q.extract_examples(p)) for p in problems) >= 120


def test_run_examples_reports_what_differs():
    ok, out = Q.run_examples(ADD.prompt + "\n" + WRONG, Q.extract_examples(ADD))
    assert not ok and "add_all([1, 2]) returned 2, expected 3" in out
    ok, out = Q.run_examples(ADD.prompt + "\n" + GOOD, Q.extract_examples(ADD))
    assert ok and out.count("ok") == 3


# -- the harness with a scripted model ----------------------------------------------------------------------

def test_single_and_agent_modes_with_a_repair():
    backend = ScriptedBackend([f"```python\n{WRONG}```", f"```python\n{GOOD}```"])
    prof = Profile("scripted", "m", speculate="off")
    single, agent = Q.solve(ADD, backend, prof, ["single", "agent"], candidates=1)
    assert (single.mode, single.passed, single.turns) == ("single", False, 1)
    assert (agent.mode, agent.passed, agent.turns, agent.repaired, agent.examples) == ("agent", True, 2, True, 3)
    assert len(backend.requests) == 2  # the first answer is shared by both modes
    feedback = backend.requests[1].messages[-1]["content"]
    assert "returned 2, expected 3" in feedback
    assert "def check" not in feedback and "candidate([1, 2, 3])" not in feedback  # hidden tests stay hidden
    assert all(r.speculate == "off" and r.sampling.temperature == 0 for r in backend.requests)


def test_agent_mode_stops_after_two_repairs():
    backend = ScriptedBackend([f"```python\n{WRONG}```"] * 3)
    (agent,) = Q.solve(ADD, backend, Profile("s", "m"), ["agent"], candidates=1)
    assert not agent.passed and agent.turns == 3 and len(backend.requests) == 3


def test_agent_mode_draws_candidates_when_the_first_answer_fails_its_examples():
    backend = ScriptedBackend([f"```python\n{WRONG}```", f"```python\n{WRONG}```", f"```python\n{GOOD}```"])
    (agent,) = Q.solve(ADD, backend, Profile("s", "m", speculate="off"), ["agent"], candidates=3)
    assert agent.passed and agent.candidate == 2 and not agent.repaired and agent.turns == 2
    first, *more = backend.requests
    assert first.sampling.temperature == 0 and len(more) == 2
    assert all(r.sampling.temperature >= 0.7 for r in more) and more[0].sampling.seed != more[1].sampling.seed
    assert all(r.messages == first.messages for r in more)  # the same question, not a repair
    # a first answer that passes its examples draws nothing more
    good = ScriptedBackend([f"```python\n{GOOD}```"])
    (agent,) = Q.solve(ADD, good, Profile("s", "m"), ["agent"], candidates=3)
    assert agent.passed and agent.candidate == 0 and len(good.requests) == 1
    # none passes: the repairs go on from the first answer
    bad = ScriptedBackend([f"```python\n{WRONG}```"] * 3 + [f"```python\n{GOOD}```"])
    (agent,) = Q.solve(ADD, bad, Profile("s", "m"), ["agent"], candidates=3)
    assert agent.passed and agent.repaired and agent.candidate == 0
    assert bad.requests[3].messages[1]["content"] == f"```python\n{WRONG}```"


def test_agent_mode_repairs_a_crash_even_without_examples():
    p = replace(ADD, prompt='def add_all(xs):\n    """Sum the numbers."""\n')
    backend = ScriptedBackend(["```python\ndef add_all(xs):\n    return sum(xs\n```", f"```python\n{WRONG}```"])
    (agent,) = Q.solve(p, backend, Profile("s", "m"), ["agent"], candidates=1)
    assert agent.examples == 0 and agent.turns == 2
    assert "SyntaxError" in backend.requests[1].messages[-1]["content"]


def canonical_backend(problems):
    def reply(req):
        text = req.messages[0]["content"]
        p = next(p for p in problems if p.prompt in text)
        return f"```python\n{p.prompt}{p.canonical_solution}```"

    return ScriptedBackend([reply] * 10, name="canonical")


def test_cli_json_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    problems = Q.load_problems(2)
    monkeypatch.setattr(Q, "backend_for", lambda p, **kw: canonical_backend(problems))
    out_md = tmp_path / "docs" / "BENCH.md"
    rc = cli.main(["bench", "quality", "--profiles", "spark-mini", "--limit", "2", "--json", "--out", str(out_md)])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["pass_at_1"] == {"spark-mini": {"single": 100.0, "agent": 100.0}}
    assert obj["published"] == {"spark-mini": 61.6} and obj["n_problems"] == 2
    assert [(r["task_id"], r["mode"]) for r in obj["results"]] == [
        ("HumanEval/0", "single"), ("HumanEval/0", "agent"), ("HumanEval/1", "single"), ("HumanEval/1", "agent")]
    text = out_md.read_text()
    assert "HumanEval pass@1" in text and "| spark-mini | qwen2.5-coder-0.5b | single | 2/2 | 100.00 | 61.6 |" in text
    (png,) = (tmp_path / "docs").glob("bench-quality-*.png")
    assert png.stat().st_size > 1000 and png.name in text


def test_journal_resumes_an_interrupted_run_without_asking_the_model_again(tmp_path):
    problems = Q.load_problems(3)
    journal = tmp_path / "q.jsonl"
    prof = Profile("s", "m", speculate="off")
    first = canonical_backend(problems)
    Q.run_quality([prof], ["single"], problems=problems[:2], backend_factory=lambda p: first, journal=journal)
    assert len(first.requests) == 2
    with open(journal, "a") as f:
        f.write('{"key": "s|m|off|", "task_id": "Huma')  # the run was killed mid-write
    again = canonical_backend(problems)
    res = Q.run_quality([prof], ["single"], problems=problems, backend_factory=lambda p: again, journal=journal)
    assert len(again.requests) == 1 and problems[2].prompt in again.requests[0].messages[0]["content"]
    assert [r.task_id for r in res.results] == [p.task_id for p in problems] and res.pass_at_1("s", "single") == 100
    # another profile or mode set is not taken from the journal
    other = canonical_backend(problems)
    Q.run_quality([prof], ["single", "agent"], problems=problems[:1], backend_factory=lambda p: other, journal=journal)
    assert len(other.requests) == 1


def test_unknown_mode_is_refused():
    from sparkcode.errors import SparkcodeError

    with pytest.raises(SparkcodeError, match="unknown mode"):
        Q.run_quality([BUILTIN["spark"]], ["multi"], problems=[])


# -- a real model ------------------------------------------------------------------------------------------------

class Borrowed:
    """Lends the session's shared engine to the harness without letting it close the engine."""

    def __init__(self, engine):
        self.name, self._engine = engine.model_name, engine

    def stream_chat(self, request):
        from sparkcode.backends.local import LocalBackend

        return LocalBackend(self._engine).stream_chat(request)


@pytest.mark.model
def test_real_model_on_three_problems(qwen05):
    prof = replace(BUILTIN["spark-mini"], speculate="off")
    res = Q.run_quality([prof], ["single", "agent"], limit=3, max_tokens=384,
                        backend_factory=lambda p: Borrowed(qwen05))
    assert [(r.task_id, r.mode) for r in res.results] == [
        (f"HumanEval/{i}", m) for i in range(3) for m in ("single", "agent")]
    assert all(isinstance(r.passed, bool) and r.tokens > 0 for r in res.results)
    assert any(r.passed for r in res.results), [(r.task_id, r.mode, r.error) for r in res.results]
    rows = Q.table_rows(res)
    assert rows[0][:3] == ["spark-mini", "qwen2.5-coder-0.5b", "single"] and rows[0][5] == "61.6"
