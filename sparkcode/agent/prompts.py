"""What the agent tells the model: the action format and the house rules.

The format was chosen for what small Qwen2.5-Coder models write reliably: whole files as a
named fenced block (no JSON escaping of code), partial edits as SEARCH/REPLACE blocks, and
short actions (run, read, list, finish) as the model's native ``<tool_call>`` JSON.

Two prompt styles share that format (`system_prompt`): "terse", sparkcode's own (act at once,
no prose), and "standard", a conventional assistant prompt that explains before acting.
"""

import re

# The placeholders below are copied by the 1.5B ("<" after "FILE:" with probability 0.05-0.40 at
# temperature 0.7); shown on a real file (hello.py) it copied none in 58 replies, but the README's
# snake run then timed out at 900 s where it ends verified: kept as is (docs/BENCHMARKS.md, 2026-12-08).
_ACTIONS = """Actions you can write in a reply (<...> marks what you fill in: real file names, real code):

1. Create or overwrite a file: a line `FILE: <path>` then a fenced code block with the complete content.
FILE: <path>
```<language>
<the complete content of the file>
```

2. Change part of an existing file: the path on its own line, then a SEARCH/REPLACE block (SEARCH must match the file exactly).
<path>
<<<<<<< SEARCH
<the lines as they are now>
=======
<the new lines>
>>>>>>> REPLACE

3. Other tools, as JSON in <tool_call> tags:
<tool_call>{"name": "run", "arguments": {"command": "<a shell command>"}}</tool_call>
<tool_call>{"name": "read_file", "arguments": {"path": "<path>"}}</tool_call>
<tool_call>{"name": "list_files", "arguments": {}}</tool_call>
<tool_call>{"name": "search", "arguments": {"pattern": "<regex>", "glob": "*.py"}}</tool_call>
<tool_call>{"name": "finish", "arguments": {"summary": "<one line>"}}</tool_call>"""

_WORK_RULES = """- Write complete, working code. Never leave placeholders or TODOs.
- A web page, app or game is ONE self-contained HTML file: inline <style> and <script>, no external files or libraries. It must start by itself when the page loads.
- Games must be complete and playable: a play area of at least 400x400 pixels, a game loop on a timer at a speed a person can follow, keyboard controls, a score shown on the page, and at game over a message drawn on the page (never alert()) with Space or Enter starting a new game. Define every function you call.
- Use relative paths inside the workspace.
- A command-line program prints its errors on stderr and exits with a non-zero status (the one the task names).
- Keep every existing public function, class and method unless the task says to remove it.
- After your actions the workspace checks the files, runs them and tests them against the task, and shows you the results. Fix what fails."""

# "terse" (sparkcode's own style): act at once, no prose — fewer tokens per turn.
SYSTEM = f"""You are sparkcode, a fast coding agent. You work in a workspace folder and act directly: no plans, no explanations, no chatter.

{_ACTIONS}

Rules:
{_WORK_RULES}
- When the task is done, call finish."""

# "standard": a conventional helpful-assistant prompt with the same actions, as most coding
# assistants ship — the model may explain and plan before it acts. The baseline in `sparkcode race`.
STANDARD_SYSTEM = f"""You are sparkcode, a helpful and knowledgeable coding assistant. You help the user with programming tasks in their workspace folder. Make sure you understand the task, think through a good approach, and explain what you are doing and why, so the user can follow your work. Then carry it out with the actions below.

{_ACTIONS}

Guidelines:
{_WORK_RULES}
- When the task is done, call finish with a short summary of what you did."""

STYLES = {"terse": SYSTEM, "standard": STANDARD_SYSTEM}


def system_prompt(style: str = "terse") -> str:
    """The system prompt for a prompt style: "terse" (act directly) or "standard" (explain, then act)."""
    try:
        return STYLES[style]
    except KeyError:
        from ..errors import SparkcodeError

        raise SparkcodeError(f"unknown prompt style {style!r}; use one of {', '.join(STYLES)}") from None


NO_ACTION = ("no action found in your reply. Write files with `FILE: path` + a fenced block, "
             "edit with SEARCH/REPLACE blocks, or call a tool in <tool_call> tags.")
UNSAVED_BLOCKS = ("your code blocks were not saved: put a line `FILE: <path>` right before "
                  "each block, with the complete file content in the block.")
STUCK = {  # what the stuck detector tells the model (or the user, on giving up), by sign
    "same_code": "you wrote the same code again and it still fails: change the code that causes the problem, "
                 "do not repeat it.",
    "same_reply": "the model repeated an earlier reply.",
    "runaway": "the reply kept repeating the same lines.",
}


def first_message(task: str, workspace_map: str) -> str:
    return f"Task: {task}\n\nWorkspace:\n{workspace_map}"


def fresh_start_message(first: str, failed: list[str]) -> str:
    """The task message of a fresh attempt: the original one and what the thrown-away attempt
    failed, briefly (so as not to make the same mistake)."""
    if not failed:
        return first
    return (first + "\n\nAn earlier attempt at this task was thrown away because these checks failed; avoid "
            "its mistakes:\n" + "\n".join(f"- {f[:300]}" for f in failed[:5]))


def results_message(lines: list[str], problems: bool) -> str:
    tail = "Fix the problems above." if problems else "Continue, or call finish if the task is done."
    return "Results:\n" + "\n".join(f"- {ln}" for ln in lines) + "\n\n" + tail


# ---- the verify stage: acceptance tests written from the task, never from the code -------------

_IMPORT_RULE = 'Import functions and classes from their modules and call them directly (the tests run in the workspace folder). Use subprocess only for a file marked "runs as a program", with the command line the task gives.'
_ACCEPTANCE_RULES = ("""You write acceptance tests for a coding task; someone else writes the program. You see the task and the names in the code (files, functions, classes, signatures), never the code itself.
Test ONLY what the task states: its examples, the errors and exit codes it names, its edge cases and tie rules. When the task gives no exact value or wording, do not assert one (never the text of an error message the task does not quote).\n""" + _IMPORT_RULE + """
Write 2 to 6 short test functions, each named after what it checks in this task. Do not define helper functions. Reply with one ```python block and nothing else.""")

_PYTHON_EXAMPLE = """Example. Task: "slug(title) in text.py lowercases the title and joins the words with '-': slug('Hello World') == 'hello-world'. An empty title raises ValueError."
```python
import pytest
from text import slug


def test_slug_of_hello_world():
    assert slug("Hello World") == "hello-world"


def test_slug_rejects_an_empty_title():
    with pytest.raises(ValueError):
        slug("")
```"""

_PROGRAM_EXAMPLE = """Example. Task: "count.py counts lines: `python count.py notes.txt` prints how many lines notes.txt has. A file that does not exist prints an error and exits with status 1."
```python
import subprocess
import sys


def test_count_prints_the_number_of_lines(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("a\nb\nc\n")
    r = subprocess.run([sys.executable, "count.py", str(notes)], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.strip() == "3"


def test_count_of_a_missing_file_exits_1():
    r = subprocess.run([sys.executable, "count.py", "missing.txt"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr
```"""

ACCEPTANCE_SYSTEM = _ACCEPTANCE_RULES + "\n\n" + _PYTHON_EXAMPLE


def acceptance_system(kind: str = "modules") -> str:
    """The test writer's instructions for what the task makes: "modules" (functions to import and
    call), "programs" (command lines to run: measured, with the module example every to-do CLI's
    tests imported `add_task` from the example's module `text`, twice in a row, in 6 runs of 6) or
    "pages" (no Python example: the 1.5B copied `from text import slug` into the tests of a tip page)."""
    if kind == "programs":
        return _ACCEPTANCE_RULES + "\n\n" + _PROGRAM_EXAMPLE
    if kind == "pages":
        return _ACCEPTANCE_RULES.replace(_IMPORT_RULE, "Test the page in a browser as the user message shows "
                                         "(open_page); there is no Python module to import.")
    return ACCEPTANCE_SYSTEM

_PROGRAMS = ("Programs are run as subprocess.run([sys.executable, \"<file>.py\", <args>...], capture_output=True, "
             "text=True), checking returncode and stdout. Write one test for each error case the task lists, "
             "checking the exit status it names and that a message is printed on stderr. A file the program "
             "reads must exist: use one the workspace lists, or write it in the test first (tmp_path / \"in.txt\") "
             "and pass its path.")


_PAGES = """Pages are tested in Chromium through the open_page fixture (do not import playwright): open_page("<file>.html") returns a Playwright page (sync API): page.fill("#id", "text"), page.click("#id"), page.press("#id", "Enter"), page.inner_text("#id"), page.input_value("#id"), page.locator("#id li").count(). Use the ids listed under the page and the values the task states. The shape of such a test (for another task, a greeting page):
```python
def test_greeting_names_the_person(open_page):
    page = open_page("{page}")
    page.fill("#name", "Ada")
    page.click("#greet")
    assert page.inner_text("#message") == "Hello, Ada!"
```"""


def acceptance_request(task: str, outline: str) -> str:
    extra = [_PROGRAMS] if "runs as a program" in outline else []
    pages = re.findall(r"^(\S+) \(a page: open_page\(", outline, re.M)
    extra += [_PAGES.replace("{page}", pages[0])] if pages else []
    more = "".join(f"\n\n{e}" for e in extra)
    return f"Task:\n{task}\n\nFiles and names in the workspace after the change:\n{outline}{more}"


def acceptance_cover(values: list[str], functions: list[str] = ()) -> str:
    gaps = []
    if values:
        gaps.append("never use these values the task states: " + ", ".join(f'"{v}"' for v in values))
    if functions:
        gaps.append("never call " + ", ".join(functions) + ", which the task names")
    return (f"Your tests {'; and they '.join(gaps)}. Reply with only the new test functions for them (what the "
            "task says about each), in one ```python block; they are added to your file.")


def acceptance_retry(error: str) -> str:
    return (f"Tests written before could not be used: {error}\nDo not write the program itself. Reply with one ```python block "
            "of pytest test functions named test_... that check what the task states.")


def acceptance_review(task: str, outline: str, tests: str, failure: str, names: list[str]) -> str:
    return (f"Task:\n{task}\n\nFiles and names in the workspace:\n{outline}\n\nThese acceptance tests:\n```python\n{tests}```\n"
            f"keep failing ({', '.join(names)}) although the coding model believes its code is right:\n{failure}\n\n"
            "Check each failing test against the task statement. If a test checks something the task does not state, "
            "calls the code in a way the task does not describe, or expects something that contradicts the task, reply "
            "with the complete corrected test file in one ```python block. If every test is right, reply with the single "
            "word KEEP.")


def acceptance_broken(task: str, outline: str, tests: str, errors: str, names: list[str]) -> str:
    return (f"Task:\n{task}\n\nFiles and names in the workspace:\n{outline}\n\nThese acceptance tests:\n```python\n{tests}```\n"
            f"fail inside their own code ({', '.join(names)}), before they check anything, whatever the program does:\n"
            f"{errors}\n\nReply with the complete corrected test file in one ```python block: fix those tests, keep "
            "the others as they are.")


def acceptance_failed(output: str) -> str:
    return ("acceptance tests written from the task statement fail (fix the code, not the tests; they live in "
            ".sparkcode/acceptance/):\n" + output)
