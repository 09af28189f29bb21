"""`sparkcode bench tasks`: the suite is trustworthy (every task's hidden tests fail on the untouched
workspace and pass with the reference solution), the runner records what a contender did and what
the hidden tests said, and the report has its columns. No model is loaded: sparkcode runs on a
`ScriptedBackend`, Aider is a stand-in script."""

from __future__ import annotations

import json
import stat
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sparkcode.agent import browser_check
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.bench import tasks as T
from sparkcode.errors import SparkcodeError
from sparkcode.profiles import BUILTIN

ALL = T.load_tasks()
PLAIN = [t for t in ALL if not t.needs_browser]
BROWSER = [t for t in ALL if t.needs_browser]
FINISH = '<tool_call>{"name": "finish", "arguments": {"summary": "done"}}</tool_call>'


def _before_after(task: T.Task) -> tuple[T.Verdict, T.Verdict]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        task.copy_workspace(d)
        before = T.judge(task, d)
        task.apply_solution(d)
        return before, T.judge(task, d)


def _all_verdicts(tasks: list[T.Task]) -> dict[str, tuple[T.Verdict, T.Verdict]]:
    with ThreadPoolExecutor(max_workers=3) as pool:  # each judge is a pytest subprocess
        return dict(zip([t.name for t in tasks], pool.map(_before_after, tasks)))


@pytest.fixture(scope="module")
def plain_verdicts():
    return _all_verdicts(PLAIN)


@pytest.fixture(scope="module")
def browser_verdicts():
    if not browser_check.available():
        pytest.skip("chromium or playwright missing")
    return _all_verdicts(BROWSER)


# ---- the suite ------------------------------------------------------------------------------------------

def test_the_suite_has_the_mix():
    assert len(ALL) >= 20
    kinds = {t.kind for t in ALL}
    assert {"fix", "feature", "refactor", "cli", "module", "page", "game"} <= kinds
    assert sum(t.kind == "page" for t in ALL) >= 2 and sum(t.kind == "game" for t in ALL) == 1
    for t in ALL:
        assert t.statement, t.name
        assert t.hidden_tests, t.name
        solution = [p for p in t.solution.rglob("*") if p.is_file()]
        workspace = [p for p in t.workspace.rglob("*") if p.is_file()] if t.workspace.is_dir() else []
        assert 1 <= len(solution) <= 5 and len(workspace) <= 5, t.name
        hidden_names = {p.name for p in t.hidden.iterdir()}
        clash = hidden_names & {p.name for p in solution + workspace}
        assert not clash, f"{t.name}: a hidden file would overwrite {clash}"


@pytest.mark.parametrize("name", [t.name for t in PLAIN])
def test_hidden_tests_fail_on_the_workspace_and_pass_with_the_solution(name, plain_verdicts):
    before, after = plain_verdicts[name]
    assert before.passed is False, f"the untouched workspace passes: {before.message}"
    assert after.passed is True, f"the reference solution fails: {after.message}"
    assert 3 <= after.tests_total


@pytest.mark.browser
@pytest.mark.parametrize("name", [t.name for t in BROWSER])
def test_page_tasks_fail_on_the_workspace_and_pass_with_the_solution(name, browser_verdicts):
    before, after = browser_verdicts[name]
    assert before.passed is False, f"the untouched workspace passes: {before.message}"
    assert after.passed is True, f"the reference solution fails: {after.message}"


def test_page_tasks_are_not_judged_without_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_check, "available", lambda: False)
    v = T.judge(next(t for t in ALL if t.kind == "page"), tmp_path)
    assert v.passed is None and v.message.startswith("not judged: chromium missing")


def test_the_judge_ignores_what_the_contender_left_besides_its_work(tmp_path):
    task = T.load_tasks(["fix-median-empty"])[0]
    task.copy_workspace(tmp_path)
    task.apply_solution(tmp_path)
    (tmp_path / "conftest.py").write_text("raise SystemExit('a contender conftest must not run')\n")
    (tmp_path / "test_mine.py").write_text("def test_fails():\n    assert False\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --bogus-flag\n")
    (tmp_path / ".sparkcode").mkdir()
    (tmp_path / ".sparkcode" / "stats.py").write_text("broken(\n")
    v = T.judge(task, tmp_path)
    assert v.passed is True, v.message
    leaked = [p.name for p in tmp_path.iterdir() if p.name.startswith("test_hidden")]
    assert not leaked, "hidden tests leaked into the workspace"


def test_load_tasks_by_name_and_unknown_names():
    assert [t.name for t in T.load_tasks(["module-rle", "fix-shared-cart"])] == ["module-rle", "fix-shared-cart"]
    with pytest.raises(SparkcodeError, match="unknown task"):
        T.load_tasks(["no-such-task"])


# ---- the runner, with sparkcode on a scripted backend ------------------------------------------------------

def files_reply(files: dict[str, str]) -> str:
    return "\n\n".join(f"FILE: {name}\n```{'python' if name.endswith('.py') else ''}\n{body.rstrip()}\n```"
                       for name, body in files.items())


def solution_reply(task: T.Task) -> str:
    return files_reply({p.relative_to(task.solution).as_posix(): p.read_text() for p in task.solution.rglob("*")
                        if p.is_file()})


def scripted(first: str, made: list | None = None):
    def factory(profile):
        b = ScriptedBackend([first] + [FINISH] * 12, name=profile.name)
        if made is not None:
            made.append(b)
        return b
    return factory


WRONG_MEDIAN = "def mean(values):\n    return sum(values) / len(values) if values else None\n\n\n" \
               "def median(values):\n    return sorted(values)[len(values) // 2] if values else None\n"


def test_a_correct_change_passes_and_a_wrong_one_fails(tmp_path):
    task = T.load_tasks(["fix-median-empty"])[0]
    good = T.SparkContender(BUILTIN["spark"], backend_factory=scripted(solution_reply(task)))
    bad = T.SparkContender(BUILTIN["spark-mini"], backend_factory=scripted(files_reply({"stats.py": WRONG_MEDIAN})))
    res = T.run_tasks([task], [good, bad], workdir=tmp_path)
    ok, wrong = res.get("sparkcode:spark", task.name), res.get("sparkcode:spark-mini", task.name)
    assert ok.passed is True and ok.tests_passed == ok.tests_total == 4
    assert ok.status not in ("error", "pending") and ok.files == ["stats.py"] and ok.tokens_out > 0
    assert ok.model == "qwen2.5-coder-1.5b" and ok.wall_s > 0
    assert wrong.passed is False and "test_median_of_even_length_list" in wrong.judged
    assert wrong.status not in ("error", "pending")
    s = res.summary("sparkcode:spark-mini")
    assert s["passed"] == 0 and s["judged"] == 1 and s["false_done"] == (1 if wrong.status == "done" else 0)
    assert list(tmp_path.iterdir()) == [], "workspaces are removed unless kept"


def test_the_workspace_the_agent_sees_has_no_hidden_tests(tmp_path):
    task = T.load_tasks(["feature-stack-peek"])[0]
    made: list = []
    c = T.SparkContender(BUILTIN["spark"], backend_factory=scripted(solution_reply(task), made))
    res = T.run_tasks([task], [c], workdir=tmp_path, keep=True)
    r = res.results[0]
    assert r.passed is True
    shown = made[0].requests[0].messages[-1]["content"]
    assert "stack.py" in shown and "test_hidden" not in shown
    assert not list(Path(r.workspace).glob("test_hidden*"))


def test_a_crashing_contender_is_recorded_as_an_error_and_still_judged(tmp_path):
    task = T.load_tasks(["fix-shared-cart"])[0]
    c = T.SparkContender(BUILTIN["spark"], backend_factory=lambda p: ScriptedBackend([], name="empty"))
    r = T.run_tasks([task], [c], workdir=tmp_path).results[0]
    assert r.status == "error" and "ran out of replies" in r.summary and r.passed is False


def test_a_contender_that_cannot_start_is_not_judged(tmp_path):
    def boom(profile):
        raise SparkcodeError("no model here")

    res = T.run_tasks(T.load_tasks(["module-rle"]), [T.SparkContender(BUILTIN["spark"], backend_factory=boom)],
                      workdir=tmp_path)
    r = res.results[0]
    assert r.status == "error" and r.passed is None and "no model here" in r.summary


def test_the_journal_resumes_without_rerunning(tmp_path):
    task = T.load_tasks(["fix-parse-price"])[0]
    journal = tmp_path / "j.jsonl"
    first = T.run_tasks([task], [T.SparkContender(BUILTIN["spark"], backend_factory=scripted(solution_reply(task)))],
                        journal=journal, workdir=tmp_path)
    assert first.results[0].passed is True and len(journal.read_text().splitlines()) == 1

    def must_not_load(profile):
        raise AssertionError("a task in the journal was run again")

    again = T.run_tasks([task], [T.SparkContender(BUILTIN["spark"], backend_factory=must_not_load)],
                        journal=journal, workdir=tmp_path)
    assert again.results[0] == first.results[0]
    other = T.SparkContender(BUILTIN["spark-mini"], backend_factory=scripted(files_reply({"prices.py": "x = 1\n"})))
    third = T.run_tasks([task], [other], journal=journal, workdir=tmp_path)
    assert third.results[0].passed is False and len(journal.read_text().splitlines()) == 2


# ---- Aider, with a stand-in script -----------------------------------------------------------------------------

def test_aider_command_line():
    cmd = T.aider_command("/v/bin/aider", "qwen2.5-coder-0.5b", "http://127.0.0.1:9/v1", "fix it", ["a.py", "b/c.py"],
                          Path("/tmp/h"), timeout_s=600)
    assert cmd[0] == "/v/bin/aider"
    for flag in ("--no-git", "--yes-always", "--no-auto-commits", "--no-show-model-warnings", "--no-check-update",
                 "--no-analytics", "--no-pretty"):
        assert flag in cmd
    assert cmd[cmd.index("--model") + 1] == "openai/qwen2.5-coder-0.5b"
    assert cmd[cmd.index("--openai-api-base") + 1] == "http://127.0.0.1:9/v1"
    assert cmd[cmd.index("--edit-format") + 1] == "whole"
    assert cmd[-4:] == ["--message", "fix it", "a.py", "b/c.py"]


def test_aider_token_lines():
    out = "Tokens: 2.1k sent, 345 received.\n...\nTokens: 3,000 sent, 1.5k received. Cost: $0.00\n"
    assert T.aider_tokens(out) == (5100, 1845)
    assert T.aider_tokens("nothing") == (0, 0)


FAKE_AIDER = """#!{python}
import os, sys
args = sys.argv[1:]
message = args[args.index("--message") + 1]
files = args[args.index("--message") + 2:]
assert os.environ["HOME"].endswith("aider-home") and "OPENAI_API_KEY" not in os.environ
assert not any(f.startswith(".") for f in files), files
with open("stats.py", "w") as f:
    f.write({solution!r})
print("Applied edit to stats.py")
print("Tokens: 1.2k sent, 250 received.")
"""


def test_aider_contender_runs_in_the_workspace_and_is_judged(tmp_path, monkeypatch):
    task = T.load_tasks(["fix-median-empty"])[0]
    exe = tmp_path / "venv" / "bin" / "aider"
    exe.parent.mkdir(parents=True)
    exe.write_text(FAKE_AIDER.format(python=sys.executable, solution=(task.solution / "stats.py").read_text()))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("OPENAI_API_KEY", "must-not-leak")
    aider = T.AiderContender("qwen2.5-coder-0.5b", venv=tmp_path / "venv")
    aider.exe, aider.api_base = exe, "http://127.0.0.1:9/v1"  # started by hand: no server, no install
    work = tmp_path / "work"
    work.mkdir()
    r = T.run_one(aider, task, workdir=work)
    assert r.passed is True and r.status == "done" and r.tokens_out == 250 and r.turns == 1, r
    assert r.files == ["stats.py"] and r.contender == "aider"
    exe.write_text("#!/bin/sh\nsleep 30\n")
    r = T.run_one(aider, task, timeout_s=1, workdir=work)
    assert r.status == "timeout" and r.passed is False and r.wall_s < 10


def test_contenders_from_the_command_line():
    cs = T.make_contenders("sparkcode:spark-mini,aider")
    assert [c.name for c in cs] == ["sparkcode:spark-mini", "aider"]
    assert cs[1].model == "qwen2.5-coder-0.5b" and cs[1].speculate == BUILTIN["spark-mini"].speculate
    cs = T.make_contenders("sparkcode:spark,aider", model="qwen2.5-coder-0.5b")
    assert [c.model for c in cs] == ["qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b"]
    assert T.make_contenders("aider")[0].model == T.DEFAULT_MODEL
    with pytest.raises(SparkcodeError):
        T.make_contenders("cursor")
    with pytest.raises(SparkcodeError):
        T.make_contenders("aider,aider")


# ---- output ---------------------------------------------------------------------------------------------------

def sample_result() -> T.TasksResult:
    res = T.TasksResult(["fix-a", "page-b"], [
        {"name": "sparkcode:spark", "kind": "sparkcode", "model": "m", "description": "sparkcode:spark = m"},
        {"name": "aider", "kind": "aider", "model": "m", "description": "aider = aider-chat"}])
    res.results = [T.TaskResult("fix-a", "sparkcode:spark", "m", False, "done", 10.0, 100),
                   T.TaskResult("page-b", "sparkcode:spark", "m", True, "unverified", 20.0, 300),
                   T.TaskResult("fix-a", "aider", "m", True, "done", 30.0, 200),
                   T.TaskResult("page-b", "aider", "m", None, "done", 5.0, 50, judged="not judged: chromium missing")]
    return res


def test_markdown_section_has_the_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["sparkcode", "bench", "tasks", "--contenders", "sparkcode:spark,aider"])
    out = tmp_path / "BENCH.md"
    T.write_report(sample_result(), str(out), threads=2, timeout_s=600)
    text = out.read_text()
    assert "## Tasks: hidden-test suite" in text and "Command: `sparkcode bench tasks --contenders" in text
    assert ("| task | sparkcode:spark pass | sparkcode:spark wall s | sparkcode:spark status | aider pass | "
            "aider wall s | aider status |") in text
    assert "| fix-a | fail | 10.0 | done | pass | 30.0 | done |" in text
    assert "| page-b | pass | 20.0 | unverified | not judged | 5.0 | done |" in text
    assert "| **all** | 1/2 (50%) | total 30.0, median 15.0 |" in text
    assert "| aider | m | 1/1 | 100.0 | 35.0 | 17.5 | 250 | - | - |" in text
    assert ("| contender | model | passed | pass rate % | total wall s | median wall s | tokens out | false done | "
            "unverified |") in text
    assert "sparkcode:spark: 1 task(s) ended `done` but failed the hidden tests (fix-a); 1 ended `unverified`; " in text
    assert "went to verification" in text
    pngs = list(tmp_path.glob("bench-tasks-*.png"))
    assert len(pngs) == 1 and f"]({pngs[0].name})" in text


def test_json_summary():
    d = json.loads(json.dumps(sample_result().to_dict()))
    assert d["summary"]["sparkcode:spark"]["false_done"] == 1 and d["summary"]["sparkcode:spark"]["unverified"] == 1
    assert d["summary"]["aider"]["judged"] == 1 and d["summary"]["aider"]["pass_rate"] == 100.0


def test_cli_flags_and_list(capsys):
    import argparse

    p = argparse.ArgumentParser()
    T.add_arguments(p)
    args = p.parse_args(["--list", "--tasks", "module-rle,page-counter"])
    assert args.contenders == "sparkcode:spark,aider" and args.timeout == 600 and args.out == "docs/BENCHMARKS.md"
    assert T.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["module-rle", "page-counter"]


def test_aider_is_given_the_code_files_a_task_names_so_it_may_create_them():
    assert T.files_named("Write rle.py with encode(); keep data in todo.json; see pages/index.html.") == [
        "rle.py", "pages/index.html"]
    assert T.files_named("Draw it with Chart.js in a Node.js server, server.js.") == ["server.js"]  # libraries
