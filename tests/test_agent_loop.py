"""Agent logic with a scripted model: actions, checks and repair, limits, safety, undo, resume.

Pages here are not played in a browser unless a test says so (`browser_check=True`, marked
`browser`), and no acceptance tests are written (tests/test_verify.py covers those): a clean run
that only wrote pages therefore ends "unverified", whatever the machine has installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sparkcode.agent.actions import parse_reply
from sparkcode.agent.checkpoint import undo_last
from sparkcode.agent.loop import Agent, AgentConfig
from sparkcode.agent.session import Session
from sparkcode.agent.workspace import Workspace
from sparkcode.backends.scripted import ScriptedBackend

GOOD_HTML = """FILE: game.html
```html
<!DOCTYPE html>
<html><body><canvas id="c" width="400" height="400"></canvas>
<script>
const ctx = document.getElementById('c').getContext('2d');
let x = 0;
setInterval(() => { x = (x + 4) % 400; ctx.clearRect(0, 0, 400, 400); ctx.fillRect(x, 10, 10, 10); }, 50);
</script></body></html>
```"""

GOOD_GAME = GOOD_HTML.replace("let x = 0;", "let x = 0, y = 10;\ndocument.addEventListener('keydown', e => {"
                               " if (e.key === 'ArrowDown') y += 5; if (e.key === 'ArrowUp') y -= 5; });"
                               ).replace("ctx.fillRect(x, 10, 10, 10)", "ctx.fillRect(x, y, 10, 10)")
BROKEN_HTML = GOOD_HTML.replace("let x = 0;", "let x = = 0;")


def agent(tmp_path, replies, **cfg):
    cfg = {"browser_check": False, "acceptance": False, **cfg}
    (tmp_path / "ws").mkdir(exist_ok=True)
    ws = Workspace(tmp_path / "ws")
    backend = ScriptedBackend(replies)
    return Agent(backend, ws, AgentConfig(**cfg)), backend


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".sparkcode" not in p.parts}


def test_written_file_that_passes_checks_finishes_the_run(tmp_path):
    a, backend = agent(tmp_path, [GOOD_HTML])
    out = a.run("make a moving square")
    assert out.status == "unverified" and "not played in a browser" in out.summary
    assert out.files_written == ["game.html"]
    assert "setInterval" in (a.ws.root / "game.html").read_text()
    assert len(backend.requests) == 1
    first = backend.requests[0].messages
    assert first[0]["role"] == "system" and "make a moving square" in first[1]["content"]


def test_syntax_error_goes_back_to_the_model_and_the_fix_lands(tmp_path):
    a, backend = agent(tmp_path, [BROKEN_HTML, GOOD_HTML])
    out = a.run("make a moving square")
    assert out.status == "unverified" and len(out.turns) == 2
    feedback = backend.requests[1].messages[-1]["content"]
    assert "FAILED" in feedback and "SyntaxError" in feedback
    assert "let x = 0;" in (a.ws.root / "game.html").read_text()


def test_malformed_tool_call_gets_a_precise_error_and_a_bounded_retry(tmp_path):
    bad = '<tool_call>{"name": "run", "arguments": {"command": "ls"</tool_call>'
    a, backend = agent(tmp_path, [bad] * 5, repair_rounds=2)
    out = a.run("list files")
    assert out.status == "gave_up"
    assert len(backend.requests) == 5  # repeats are rewound (not counted as repairs), then the budget ends it
    assert [r.sampling.temperature for r in backend.requests] == [0.0, 0.0, 0.7, 0.7, 0.7]
    assert "not valid JSON" in backend.requests[1].messages[-1]["content"]


def test_reply_without_actions_is_nudged(tmp_path):
    a, backend = agent(tmp_path, ["Sure! I can do that.", GOOD_HTML])
    out = a.run("make a page")
    assert out.status == "unverified"
    assert "no action found" in backend.requests[1].messages[-1]["content"]
    assert "code blocks were not saved" not in backend.requests[1].messages[-1]["content"]


def test_unsaved_code_blocks_get_a_precise_nudge(tmp_path):
    unnamed = "Here is the page and its style:\n```html\n<p>\nhi\n</p>\n```\n```css\np {\n color: red;\n}\n```"
    a, backend = agent(tmp_path, [unnamed, GOOD_HTML])
    out = a.run("make a page")
    assert out.status == "unverified"
    assert "put a line `FILE: <path>` right before each block" in backend.requests[1].messages[-1]["content"]


def test_turn_and_token_limits_end_the_run_explicitly(tmp_path):
    run_ls = '<tool_call>{"name": "run", "arguments": {"command": "echo hi"}}</tool_call>'
    a, _ = agent(tmp_path, [run_ls] * 5, max_turns=3, max_fresh=0)
    assert a.run("loop").status == "max_turns"
    long_reply = "x " * 400
    a, _ = agent(tmp_path, [long_reply] * 5, max_total_tokens=300, max_tokens_per_turn=200, repair_rounds=10)
    out = a.run("talk")
    assert out.status == "max_tokens"


def test_edit_blocks_apply_and_finish(tmp_path):
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    edit = "app.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
    finish = '<tool_call>{"name": "finish", "arguments": {"summary": "fixed add"}}</tool_call>'
    a, _ = agent(tmp_path, [edit + finish])
    out = a.run("fix add")
    # nothing ran the code (no tests here, acceptance tests off): the model's "finish" is not "done"
    assert out.status == "unverified" and "no check ran its behaviour" in out.summary
    assert (tmp_path / "ws" / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_failing_tests_in_the_workspace_block_finish(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "test_calc.py").write_text("from calc import mul\n\ndef test_mul():\n    assert mul(3, 4) == 12\n")
    wrong = "FILE: calc.py\n```python\ndef mul(a, b):\n    return a + b\n```"
    right = "FILE: calc.py\n```python\ndef mul(a, b):\n    return a * b\n```"
    a, backend = agent(tmp_path, [wrong, right])
    out = a.run("implement mul")
    assert out.status == "done" and len(out.turns) == 2
    assert "tests fail" in backend.requests[1].messages[-1]["content"]


def test_undo_restores_the_exact_tree_including_deleting_created_files(tmp_path):
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "keep.py").write_text("x = 1\n")
    (ws / "data.bin").write_bytes(bytes(range(256)))
    before = tree(ws)
    script = ("FILE: src/keep.py\n```python\nx = 2\n```\nFILE: new/added.py\n```python\ny = 3\n```\n"
              '<tool_call>{"name": "run", "arguments": {"command": "rm data.bin"}}</tool_call>')
    finish = '<tool_call>{"name": "finish", "arguments": {"summary": "done"}}</tool_call>'
    a, _ = agent(tmp_path, [script, finish])
    assert a.run("change things").status == "unverified"
    assert tree(ws) != before and not (ws / "data.bin").exists()
    undo_last(ws)
    assert tree(ws) == before
    assert not (ws / "new").exists()


def test_paths_outside_the_workspace_are_refused_and_the_run_goes_on(tmp_path):
    outside = tmp_path / "outside.txt"
    (tmp_path / "ws").mkdir()
    os.symlink(tmp_path, tmp_path / "ws" / "link")
    os.symlink("/dev/zero", tmp_path / "ws" / "zero")
    attacks = "\n".join([
        "FILE: ../outside.txt\n```text\npwned\n```",
        f"FILE: {outside}\n```text\npwned\n```",
        "FILE: link/outside.txt\n```text\npwned\n```",
        '<tool_call>{"name": "read_file", "arguments": {"path": "zero"}}</tool_call>',
        '<tool_call>{"name": "read_file", "arguments": {"path": "/etc/passwd"}}</tool_call>',
        '<tool_call>{"name": "run", "arguments": {"command": "yes | head -c 50000000"}}</tool_call>',
        '<tool_call>{"name": "run", "arguments": {"command": "sleep 100", "timeout": 1}}</tool_call>',
    ])
    finish = '<tool_call>{"name": "finish", "arguments": {"summary": "gave up"}}</tool_call>'
    a, backend = agent(tmp_path, [attacks, finish], repair_rounds=5)
    out = a.run("escape")
    assert out.status == "unverified" and "no files were changed" in out.summary
    assert not outside.exists()
    report = backend.requests[1].messages[-1]["content"]
    assert report.count("FAILED") >= 6
    assert "outside the workspace" in report
    assert len(report) < 60_000  # huge output was capped


def test_read_only_mode_refuses_writes_and_commands(tmp_path):
    (tmp_path / "ws").mkdir()
    ws = Workspace(tmp_path / "ws", mode="read-only")
    write = "FILE: a.py\n```python\nx = 1\n```\n" + '<tool_call>{"name": "run", "arguments": {"command": "touch b"}}</tool_call>'
    finish = '<tool_call>{"name": "finish", "arguments": {"summary": "ok"}}</tool_call>'
    backend = ScriptedBackend([write, finish])
    out = Agent(backend, ws, AgentConfig()).run("try")
    assert out.status == "unverified"
    assert list((tmp_path / "ws").iterdir()) == [] or [p.name for p in (tmp_path / "ws").iterdir()] == [".sparkcode"]
    assert "read-only" in backend.requests[1].messages[-1]["content"]


def test_session_is_logged_and_resume_continues_the_conversation(tmp_path):
    a, _ = agent(tmp_path, [GOOD_HTML])
    out = a.run("make a page")
    log = [json.loads(line) for line in Path(out.session).read_text().splitlines()]
    types = [e["type"] for e in log]
    assert types[0] == "task" and "tool" in types and "turn" in types and types[-1] == "outcome"
    session = Session.latest(a.ws.root)
    assert session.task() == "make a page"
    finish = '<tool_call>{"name": "finish", "arguments": {"summary": "made it red"}}</tool_call>'
    backend = ScriptedBackend([finish])
    out2 = Agent(backend, a.ws, AgentConfig(browser_check=False)).resume(session, "make it red")
    assert out2.status == "unverified"
    shown = backend.requests[0].messages
    assert shown[-1] == {"role": "user", "content": "make it red"}
    assert any(m["role"] == "assistant" and "setInterval" in m["content"] for m in shown)


def test_killed_run_leaves_a_readable_session(tmp_path):
    a, _ = agent(tmp_path, [GOOD_HTML])
    out = a.run("make a page")
    with open(out.session, "a") as f:
        f.write('{"type": "message", "role": "assis')  # the process died mid-write
    assert Session.latest(a.ws.root).task() == "make a page"


@pytest.mark.parametrize("reply,expected", [
    ("FILE: a.py\n```python\nprint(1)\n```", [("write_file", "a.py")]),
    ("### b/c.js\n```javascript\nlet a = 1;\n```", [("write_file", "b/c.js")]),
    ("**index.html**\n```html\n<p>\nhi\n</p>\n```", [("write_file", "index.html")]),
    ("**a.py:**\n```python\nprint(1)\n```\n\n**b.py:**\n```python\nprint(2)\n```",
     [("write_file", "a.py"), ("write_file", "b.py")]),
    ("```html\n<!DOCTYPE html>\n<p>hi</p>\n</html>\n```", [("write_file", "index.html")]),
    ("```python main.py\nprint(1)\n```", [("write_file", "main.py")]),
    ("Run it:\n```bash\npython3 a.py\n```", []),
    ("### Step 1\nCreate a file named `snake.html` in the workspace root.\n\n```html\n<p>\nhi\n</p>\n```",
     [("write_file", "snake.html")]),
    ("Then save this as app.py:\n```python\nprint(1)\nprint(2)\n```", [("write_file", "app.py")]),
    ("Run `main.py` like this:\n```bash\npython3 main.py\n```", []),
    ("Unlike `notes.md`, this page:\n```html\n<p>\nhi\n</p>\n```", [("write_file", "index.html")]),
    ('<tool_call>{"name": "list_files", "arguments": {}}</tool_call>', [("list_files", None)]),
    # the root's placeholder copied into the path: the file in the workspace, not "/invoice.py"
    ("FILE: <workspace>/invoice.py\n```python\nx = 1\n```", [("write_file", "invoice.py")]),
])
def test_reply_parsing_is_tolerant(reply, expected):
    actions, errors = parse_reply(reply)
    assert errors == []
    assert [(a.tool, a.args.get("path")) for a in actions] == expected


def test_unnamed_block_overwrites_the_single_existing_file_of_its_type():
    actions, _ = parse_reply("```html\n<html>\n<body></body>\n</html>\n```", existing_files=["snake.html", "notes.md"])
    assert actions[0].args["path"] == "snake.html"


def test_a_block_under_a_placeholder_name_goes_to_the_one_file_of_its_type_the_task_names():
    reply = "FILE: <path>\n```python\nimport sys\n\nprint(sys.argv[1])\n```"
    actions, _ = parse_reply(reply, existing_files=["sales.csv"], named_files=["csvsum.py", "report.html"])
    assert [(a.tool, a.args["path"]) for a in actions] == [("write_file", "csvsum.py")]
    assert parse_reply(reply, existing_files=["sales.csv"], named_files=["a.py", "b.py"])[0] == []  # which one?
    tests = "FILE: <path>\n```python\nimport pytest\nfrom csvsum import main\n\n\ndef test_main():\n    assert main()\n```"
    assert parse_reply(tests, existing_files=["csvsum.py"], named_files=["csvsum.py"])[0] == []  # never into the program


def test_a_placeholder_fence_takes_the_language_its_code_shows_and_a_block_written_twice_is_one():
    """Measured: at temperature 0.7 the 1.5B often copies the prompt's template whole, `FILE: <path>`
    then a ```<language> fence, and writes the same file again under "(updated)": a correct
    stack.py was lost that way in two of two sampled replies."""
    body = "class Stack:\n    def peek(self):\n        return self._items[-1]\n"
    reply = f"FILE: <path>\n```<language>\n{body}```\n\n--- stack.py (updated) ---\n```<language>\n{body}```\n"
    actions, _ = parse_reply(reply, existing_files=["stack.py"], named_files=["stack.py"])
    assert [(a.tool, a.args["path"], a.args["content"]) for a in actions] == [("write_file", "stack.py", body)]
    page = "FILE: <path>\n```<language>\n<!DOCTYPE html>\n<html><body>\n<canvas></canvas>\n</body></html>\n```"
    assert [a.args["path"] for a in parse_reply(page, existing_files=[], named_files=[])[0]] == ["index.html"]
    two = reply.replace(body, body.replace("[-1]", "[0]"), 1)  # two different files: which is meant is unknown
    assert parse_reply(two, existing_files=["stack.py"], named_files=["stack.py"])[0] == []


def test_a_tool_call_in_a_json_block_runs_and_leaves_the_file_block_above_it_saved():
    reply = ("```python\nimport sys\n\nprint(sum(1 for _ in open(sys.argv[1])))\n```\n\n"
             '```json\n{"name": "run", "arguments": {"command": "python count.py data.txt"}}\n```')
    actions, errors = parse_reply(reply, existing_files=["count.py", "data.txt"])
    assert errors == [] and [(a.tool, a.args.get("path") or a.args.get("command")) for a in actions] == [
        ("write_file", "count.py"), ("run", "python count.py data.txt")]
    config = '```json\n{"name": "demo", "version": "1.0.0"}\n```'  # JSON that is not a call stays a block
    assert parse_reply(config, existing_files=[])[0] == []
    example = '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'  # not one of our tools
    assert parse_reply(example, existing_files=[])[0] == []


def test_a_repeated_reply_is_rewound_with_its_earlier_copy_and_the_turn_sampled_anew(tmp_path):
    a, backend = agent(tmp_path, [BROKEN_HTML, "I think it works.", "I think it works.", GOOD_HTML])
    out = a.run("make a moving square")
    assert out.status == "unverified"
    assert [r.sampling.temperature for r in backend.requests] == [0.0, 0.0, 0.0, 0.7]
    # both copies are gone (the model would copy the one left in view): the second request again, sampled
    assert backend.requests[3].messages == backend.requests[1].messages
    # and a resumed session sees the conversation as the model last saw it
    log = Session.latest(a.ws.root).messages()
    assert [m["content"] for m in log if m["role"] == "assistant"].count("I think it works.") == 0


def test_a_snippet_is_not_saved_as_a_new_file_next_to_existing_ones():
    snippet = "Here is the corrected function:\n```javascript\nfunction loop() {\n  draw();\n}\n```"
    assert parse_reply(snippet, existing_files=["index.html"]) == ([], [])
    assert parse_reply(snippet, existing_files=[])[0][0].args["path"] == "script.js"  # empty workspace: a file


def test_a_file_that_failed_blocks_done_until_it_is_fixed(tmp_path):
    helper = "FILE: util.py\n```python\ndef two():\n    return 2\n```"
    fixed = GOOD_HTML
    a, backend = agent(tmp_path, [BROKEN_HTML, helper, fixed])
    out = a.run("make a moving square")
    assert out.status == "unverified" and len(out.turns) == 3  # util.py passing alone did not end the run
    feedback = backend.requests[2].messages[-1]["content"]
    assert "check util.py: OK" in feedback and "check game.html: FAILED" in feedback  # checked again
    assert sorted(c["path"] for c in out.checks) == ["game.html", "public names", "util.py"]
    assert all(c["ok"] for c in out.checks)


def test_a_failing_file_not_touched_by_a_turn_is_named_as_still_failing(tmp_path):
    listing = '<tool_call>{"name": "list_files", "arguments": {}}</tool_call>'
    a, backend = agent(tmp_path, [BROKEN_HTML, listing, GOOD_HTML])
    assert a.run("make a moving square").status == "unverified"
    assert "still failing (not fixed yet): game.html" in backend.requests[2].messages[-1]["content"]


@pytest.mark.browser
def test_a_failing_page_is_checked_again_when_its_script_changes(tmp_path):
    page = ("FILE: game.html\n```html\n<!DOCTYPE html>\n<html><body><canvas id=\"c\" width=\"400\" height=\"400\">"
            "</canvas>\n<script src=\"game.js\"></script></body></html>\n```\n")
    broken = page + "FILE: game.js\n```javascript\nconst ctx = document.getElementById('c').getContext('2d');\nstart();\n```"
    fixed = ("FILE: game.js\n```javascript\nconst ctx = document.getElementById('c').getContext('2d');\nlet x = 0;\n"
             "setInterval(() => { x = (x + 4) % 400; ctx.clearRect(0, 0, 400, 400); ctx.fillRect(x, 10, 10, 10); }, 50);"
             "\n```")
    a, backend = agent(tmp_path, [broken, fixed], browser_check=True)
    out = a.run("make a moving square")
    assert out.status == "done" and len(out.turns) == 2, out
    assert all(c["ok"] for c in out.checks)
    assert {c["path"] for c in out.checks} == {"game.html", "game.js"}


def test_placeholder_script_is_sent_back_for_the_real_code(tmp_path):
    placeholder = ("FILE: game.html\n```html\n<!DOCTYPE html>\n<html><body><canvas id=\"c\"></canvas>\n<script>\n"
                   "// Your snake game code goes here\n</script></body></html>\n```")
    a, backend = agent(tmp_path, [placeholder, GOOD_GAME])
    out = a.run("build a snake game in one HTML file")
    assert out.status == "unverified" and len(out.turns) == 2
    assert "placeholder" in backend.requests[1].messages[-1]["content"]


def test_a_page_using_a_class_from_a_script_it_never_loads_is_told_which_file(tmp_path):
    # the model's reply (README run, candidate 3): `new Game()` in the page, `class Game` in a game.js never loaded
    unloaded = ("FILE: snake_game.html\n```html\n<!DOCTYPE html>\n<html><body><canvas id=\"gameCanvas\"></canvas>\n"
                "<script>\n    // Importing the game logic\n    const game = new Game();\n    game.start();\n</script>"
                "</body></html>\n```\n\nFILE: game.js\n```javascript\nclass Game {\n  start() {\n    this.ctx = "
                "document.getElementById('gameCanvas').getContext('2d');\n  }\n}\n```")
    a, backend = agent(tmp_path, [unloaded, GOOD_GAME.replace("FILE: game.html", "FILE: snake_game.html")])
    a.run("build a snake game in one HTML file")
    told = backend.requests[1].messages[-1]["content"]
    assert ("the page's script uses Game, which is defined in game.js, but snake_game.html never loads game.js" in told
            and "placeholder" not in told), told


def test_rewriting_a_failing_file_unchanged_still_fails(tmp_path):
    a, backend = agent(tmp_path, [BROKEN_HTML, "Fixed.\n" + BROKEN_HTML, "Fixed now.\n" + BROKEN_HTML,
                                  "Really fixed.\n" + BROKEN_HTML], repair_rounds=5, max_fresh=0)
    out = a.run("make a moving square")
    assert out.status == "gave_up" and out.summary.startswith("stuck") and len(out.turns) == 4
    assert "FAILED" in backend.requests[2].messages[-1]["content"]
    # the repeat is named, and the turn after it is sampled rather than greedy (which would repeat again)
    assert "you wrote the same code again" not in backend.requests[1].messages[-1]["content"]
    assert "you wrote the same code again" in backend.requests[2].messages[-1]["content"]
    temps = [r.sampling.temperature for r in backend.requests]
    assert temps[:2] == [0.0, 0.0] and temps[2] == 0.7 and backend.requests[2].sampling.seed == 3


@pytest.mark.browser
def test_runtime_javascript_error_found_in_the_browser_goes_back_to_the_model(tmp_path):
    crashing = GOOD_HTML.replace("let x = 0;", "let x = 0; startGame();")
    a, backend = agent(tmp_path, [crashing, GOOD_HTML], browser_check=True)
    out = a.run("make a moving square")
    assert out.status == "done" and len(out.turns) == 2
    feedback = backend.requests[1].messages[-1]["content"]
    assert "JavaScript errors when the page runs" in feedback and "startGame" in feedback


@pytest.mark.browser
def test_a_game_that_cannot_be_steered_goes_back_to_the_model(tmp_path):
    a, backend = agent(tmp_path, [GOOD_HTML, GOOD_GAME], browser_check=True)
    out = a.run("make a tiny game")
    assert out.status == "done" and len(out.turns) == 2
    assert "the game has no keyboard controls" in backend.requests[1].messages[-1]["content"]
    # the same animation is fine when no game was asked for
    (tmp_path / "other").mkdir()
    a, backend = agent(tmp_path / "other", [GOOD_HTML], browser_check=True)
    assert a.run("make a moving square").status == "done"
