"""`sparkcode race` with scripted backends: order, one fresh workspace and backend per profile,
validity checks, ratio math, live progress, JSON and markdown output. No model is loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from sparkcode import cli
from sparkcode.agent import prompts
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.bench import race as R
from sparkcode.agent.browser_check import available
from sparkcode.agent.playtest import PageVerdict
from sparkcode.profiles import BUILTIN, Profile

PROFILES = [BUILTIN["standard"], BUILTIN["spark"], BUILTIN["spark-mini"]]


def py_reply(body: str, name: str = "main.py") -> str:
    return f"FILE: {name}\n```python\n{body}\n```"


# the acceptance-test writer's reply: a separate generation after the first turn whose Python compiles
ACCEPT_RUNS = ("FILE: t.py\n```python\nimport subprocess, sys\n\ndef test_runs():\n"
               "    assert subprocess.run([sys.executable, 'main.py']).returncode == 0\n```")
ACCEPT_EXISTS = "```python\nimport os\n\ndef test_main_exists():\n    assert os.path.isfile('main.py')\n```"


def py_run(body: str) -> list[str]:
    """A scripted run that writes main.py and ends done: the coding reply, then the acceptance tests."""
    return [py_reply(body), ACCEPT_RUNS]


HTML_REPLY = ("FILE: game.html\n```html\n<!DOCTYPE html><html><body><p id=\"o\"></p>"
              "<script>document.getElementById('o').textContent = 'hello';</script></body></html>\n```")


PAGE_TESTS = ("```python\ndef test_it_says_hello(open_page):\n    page = open_page(\"game.html\")\n"
              "    assert page.inner_text(\"#o\") == \"hello\"\n```")


class Closable(ScriptedBackend):
    def __init__(self, replies, name, log):
        super().__init__(replies, name=name)
        self.log = log

    def close(self):
        self.log.append(f"close {self.name}")


def factory_for(replies: dict[str, list], log: list):
    made = {}

    def factory(profile: Profile):
        log.append(f"load {profile.name}")
        b = Closable(list(replies[profile.name]), profile.name, log)
        made[profile.name] = b
        return b

    factory.made = made
    return factory


def quiet():
    return Console(file=io.StringIO(), width=200)


def verdict(ok: bool, problems=(), **details) -> PageVerdict:
    return PageVerdict(ok, list(problems), "played fine" if ok else f"{len(problems)} problem(s)", details)


def fake_html_check(ok=True):
    seen = []

    def check(path: Path, game: bool = False) -> PageVerdict:
        seen.append(path)
        return verdict(ok, [] if ok else ["JavaScript errors when the page runs in a browser: ReferenceError: boom"])

    check.seen = seen
    return check


def test_profiles_run_in_order_each_in_its_own_workspace_with_a_fresh_backend(tmp_path):
    log: list[str] = []
    replies = {p.name: py_run(f"print('made by {p.name}')") for p in PROFILES}
    factory = factory_for(replies, log)
    res = R.run_race("write main.py", PROFILES, backend_factory=factory, workdir=tmp_path, keep_workspaces=True,
                     console=quiet())
    assert [e.profile for e in res.entries] == ["standard", "spark", "spark-mini"]
    assert log == ["load standard", "close standard", "load spark", "close spark", "load spark-mini",
                   "close spark-mini"]
    spaces = [Path(e.workspace) for e in res.entries]
    assert len(set(spaces)) == 3 and all(s.parent == tmp_path for s in spaces)
    for e, ws in zip(res.entries, spaces):
        assert e.status == "done" and e.files == ["main.py"]
        assert (ws / "main.py").read_text().strip() == f"print('made by {e.profile}')"
        assert e.valid is True and "compiles and runs" in e.check
        assert e.tokens_out > 0 and e.turns == 1 and e.wall_s > 0 and e.ttft_s > 0
    # each profile's settings reached the agent: speculation mode and prompt style
    for p in PROFILES:
        req, tests = factory.made[p.name].requests
        assert req.speculate == p.speculate and tests.speculate == p.speculate
        assert req.messages[0]["content"] == prompts.system_prompt(p.style)
        assert tests.messages[0]["content"] == prompts.ACCEPTANCE_SYSTEM  # the acceptance tests, same backend


def test_workspaces_are_removed_unless_kept(tmp_path):
    replies = {p.name: py_run("print(1)") for p in PROFILES[:2]}
    res = R.run_race("t", PROFILES[:2], backend_factory=factory_for(replies, []), workdir=tmp_path, console=quiet())
    assert all(e.valid for e in res.entries)
    assert not any(Path(e.workspace).exists() for e in res.entries)
    assert list(tmp_path.iterdir()) == []


def test_validity_checks_per_kind_of_result(tmp_path):
    profiles = [Profile(n, "m", speculate="off") for n in ("good-py", "crash-py", "html-ok", "html-bad", "nothing",
                                                           "notes")]
    replies = {
        "good-py": py_run("print('hi')"),
        # tests that do not run it: the agent ends done, the race's own check still finds the crash
        "crash-py": [py_reply("raise SystemExit('the board is empty')"), ACCEPT_EXISTS],
        "html-ok": [HTML_REPLY, PAGE_TESTS],  # a page that is not a game gets acceptance tests too
        "html-bad": [HTML_REPLY, PAGE_TESTS],
        "nothing": ['<tool_call>{"name": "finish", "arguments": {"summary": "nothing to do"}}</tool_call>'],
        "notes": ["FILE: notes.md\n```markdown\n# notes\n```"],
    }
    good, bad = fake_html_check(True), fake_html_check(False)

    def check_html(path, game):
        return (good if "html-ok" in str(path) else bad)(path)

    res = R.run_race("t", profiles, backend_factory=factory_for(replies, []), check_html=check_html,
                     workdir=tmp_path, keep_workspaces=True, console=quiet())
    e = {x.profile: x for x in res.entries}
    assert e["good-py"].valid is True and e["good-py"].status == "done"
    assert e["crash-py"].status == "done"
    assert e["crash-py"].valid is False and "the board is empty" in e["crash-py"].check
    assert e["html-ok"].valid is True and good.seen == [Path(e["html-ok"].workspace) / "game.html"]
    assert e["html-bad"].valid is False and "boom" in json.dumps(e["html-bad"].checks)
    # finishing without writing anything, or writing only notes, verifies no behaviour
    assert e["nothing"].status == "unverified" and e["nothing"].valid is False
    assert e["nothing"].check == "no files written"
    assert e["notes"].status == "unverified" and e["notes"].valid is None and "not checked" in e["notes"].check


def test_pages_are_judged_by_the_playtest_as_games_for_a_game_task(tmp_path):
    (tmp_path / "game.html").write_text("<canvas></canvas>")
    asked = []

    def judge(path, game):
        asked.append(game)
        return verdict(not game, [] if not game else ["the game has no keyboard controls: pressing the arrow keys "
                                                      "changes nothing. Add a keydown listener that steers it"],
                       game_overs=[], responds_to_keys=False, canvas_changed=True, duration_s=3.0)

    v = R.check_workspace(tmp_path, ["game.html"], judge)
    assert v.valid is True and v.message == "game.html: played fine"
    v = R.check_workspace(tmp_path, ["game.html"], judge, keyboard=True)
    assert v.valid is False and "no keyboard controls" in v.message
    assert v.checks[0]["problems"] and v.checks[0]["canvas_changed"] and v.checks[0]["duration_s"] == 3.0
    assert asked == [False, True]


def test_a_page_that_cannot_be_played_here_is_unchecked_not_valid(tmp_path):
    from sparkcode.errors import SparkcodeError

    (tmp_path / "game.html").write_text("<canvas></canvas>")
    (tmp_path / "main.py").write_text("print(1)\n")

    def no_browser(path, game):
        raise SparkcodeError("page not played in a browser: install Debian's chromium")

    v = R.check_workspace(tmp_path, ["game.html"], no_browser)
    assert v.valid is None and "not played in a browser" in v.message
    v = R.check_workspace(tmp_path, ["game.html", "main.py"], no_browser)
    assert v.valid is None and v.checks[1]["ok"] is True


def test_python_checks(tmp_path):
    (tmp_path / "server.py").write_text("import time\nwhile True:\n    time.sleep(0.1)\n")
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "lib.py").write_text("def helper():\n    return 1\n")
    (tmp_path / "main.py").write_text("import sys\nprint(sys.argv)\n")
    v = R.check_workspace(tmp_path, ["server.py"], py_timeout=1)
    assert v.valid and "still running" in v.message
    v = R.check_workspace(tmp_path, ["broken.py"])
    assert v.valid is False and "does not compile" in v.message
    v = R.check_workspace(tmp_path, ["lib.py", "main.py"])  # lib.py only compiled, main.py run
    assert v.valid and [c["message"] for c in v.checks] == ["compiles", "compiles and runs"]


def test_speedup_ratio_math():
    def entry(name, wall, status="done"):
        e = R.RaceEntry(name, "m", "off", "terse", False)
        e.wall_s, e.status = wall, status
        return e

    base, sp = R._speedups([entry("standard", 30.0), entry("spark", 12.0), entry("spark-mini", 7.5)])
    assert base == "standard" and sp == {"spark": 2.5, "spark-mini": 4.0}
    assert R._speedups([entry("spark", 1.0), entry("spark-mini", 2.0)]) == (None, {})  # no standard: no ratio
    assert R._speedups([entry("standard", 0.0, "error"), entry("spark", 2.0)]) == ("standard", {})
    assert R._speedups([entry("standard", 4.0), entry("spark", 0.0, "error")]) == ("standard", {})
    lines = R.speedup_lines(R.RaceResult("t", [], "standard", {"spark": 2.5, "slow": 0.5}))
    assert lines == ["standard ÷ spark wall time: 2.50× (faster)", "standard ÷ slow wall time: 0.50× (slower)"]


def test_decode_tps_weights_turns_by_their_tokens():
    # 101 tokens at 10 tok/s (10 s) and 11 tokens at 100 tok/s (0.1 s): 110 tokens in 10.1 s
    assert R.decode_tps([(101, 10.0), (11, 100.0)]) == pytest.approx(110 / 10.1)
    assert R.decode_tps([(1, 0.0), (0, 0.0)]) == 0.0


def test_speedups_come_from_the_measured_walls(tmp_path):
    replies = {p.name: py_run("print(1)") for p in PROFILES}
    res = R.run_race("t", PROFILES, backend_factory=factory_for(replies, []), workdir=tmp_path, console=quiet())
    base = res.entry("standard")
    assert res.baseline == "standard" and set(res.speedups) == {"spark", "spark-mini"}
    for name in ("spark", "spark-mini"):
        assert res.speedups[name] == round(base.wall_s / res.entry(name).wall_s, 3)
    rows = R.table_rows(res)
    assert [r[0] for r in rows] == ["standard", "spark", "spark-mini"]
    assert rows[0][-1] == "1.00× (baseline)" and rows[1][-1].endswith("×")
    assert R.HEADER == ["profile", "model", "status", "valid", "wall s", "tok/s", "TTFT s", "tokens", "speedup"]


def test_a_profile_that_fails_to_load_does_not_stop_the_race(tmp_path):
    log: list[str] = []
    inner = factory_for({"spark": py_run("print(1)")}, log)

    def factory(p):
        if p.name == "standard":
            from sparkcode.errors import ModelError
            raise ModelError("model qwen2.5-coder-1.5b is not installed")
        return inner(p)

    res = R.run_race("t", PROFILES[:2], backend_factory=factory, workdir=tmp_path, console=quiet())
    assert res.entry("standard").status == "error" and "not installed" in res.entry("standard").summary
    assert res.entry("spark").status == "done" and res.entry("spark").valid
    assert res.speedups == {}
    assert log == ["load spark", "close spark"]


def test_a_backend_that_crashes_mid_run_is_reported_and_closed(tmp_path):
    log: list[str] = []

    def boom(req):
        raise RuntimeError("the GPU caught fire")

    res = R.run_race("t", PROFILES[:1], backend_factory=factory_for({"standard": [boom]}, log), workdir=tmp_path,
                     console=quiet())
    e = res.entries[0]
    assert e.status == "error" and "GPU caught fire" in e.summary
    assert log == ["load standard", "close standard"]


def test_live_table_and_reporter(tmp_path):
    buf = io.StringIO()
    replies = {p.name: py_run("print(1)") for p in PROFILES[:2]}
    R.run_race("make it", PROFILES[:2], backend_factory=factory_for(replies, []), workdir=tmp_path,
               console=Console(file=buf, width=200, force_terminal=True), live=True)
    out = buf.getvalue()
    for needle in ("race: make it", "standard", "spark", "tokens out", "elapsed s", "valid"):
        assert needle in out

    row = R._Row("p", "m")
    rep = R.RaceReporter(row)
    rep.turn_start(1)
    for _ in range(5):
        rep.text("x")
    assert (row.turn, row.status, row.tokens + row.streamed) == (1, "generating", 5)

    class TS:
        completion_tokens = 7

    rep.turn_end(TS())
    assert row.tokens == 7 and row.streamed == 0


def test_cli_json_output_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for var in list(__import__("os").environ):
        if var.startswith("SPARKCODE_PROFILE_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    log: list[str] = []
    monkeypatch.setattr(R, "backend_for", lambda p, **kw: factory_for(
        {p.name: py_run(f"print('{p.name}')")}, log)(p))
    out_md = tmp_path / "docs" / "BENCH.md"
    rc = cli.main(["race", "write a script", "--profiles", "standard,spark-mini", "--json", "--out", str(out_md)])
    assert rc == 0
    stdout = capsys.readouterr().out
    obj = json.loads(stdout)  # exactly one JSON object, nothing else on stdout
    assert obj["task"] == "write a script" and obj["baseline"] == "standard"
    assert [e["profile"] for e in obj["entries"]] == ["standard", "spark-mini"]
    assert obj["entries"][1]["model"] == "qwen2.5-coder-0.5b" and obj["entries"][1]["valid"] is True
    assert [e["status"] for e in obj["entries"]] == ["done", "done"]
    assert set(obj["speedups"]) == {"spark-mini"}
    text = out_md.read_text()
    (png,) = (tmp_path / "docs").glob("bench-race-*.png")
    assert "## Race" in text and "| standard |" in text and png.name in text
    assert png.stat().st_size > 1000
    assert log == ["load standard", "close standard", "load spark-mini", "close spark-mini"]


def test_cli_table_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(R, "backend_for", lambda p, **kw: ScriptedBackend(py_run("print(2)"), name=p.name))
    assert cli.main(["race", "t", "--profiles", "standard,spark"]) == 0
    out = capsys.readouterr().out
    assert "standard ÷ spark wall time" in out and "qwen2.5-coder-1.5b" in out


def test_cli_unknown_profile_lists_the_known_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli.main(["race", "t", "--profiles", "standard,turbo"]) == 2
    err = capsys.readouterr().err
    assert "turbo" in err and "spark-mini" in err


def test_empty_task_and_duplicate_profiles_are_refused():
    from sparkcode.errors import SparkcodeError

    with pytest.raises(SparkcodeError, match="empty"):
        R.run_race("  ", PROFILES, console=quiet())
    with pytest.raises(SparkcodeError, match="twice"):
        R.run_race("t", [PROFILES[0], PROFILES[0]], console=quiet())


@pytest.mark.browser
@pytest.mark.skipif(not available(), reason="needs playwright and Debian chromium")
def test_html_result_is_played_in_the_browser(tmp_path):
    game = ("FILE: game.html\n```html\n<!DOCTYPE html><html><body><canvas id=\"c\" width=\"50\" height=\"50\"></canvas>"
            "<script>const g = document.getElementById('c').getContext('2d'); let x = 0;\n"
            "setInterval(() => { x = (x + 1) % 50; g.clearRect(0, 0, 50, 50); g.fillRect(x, 5, 4, 4); }, 40);\n"
            "</script></body></html>\n```")
    dot_tests = "```python\ndef test_dot(open_page):\n    assert open_page(\"game.html\").locator(\"#c\").count() == 1\n```"
    res = R.run_race("a moving dot", PROFILES[1:2], backend_factory=factory_for({"spark": [game, dot_tests]}, []),
                     workdir=tmp_path, console=quiet())
    e = res.entries[0]
    assert e.valid is True and "animates" in e.check, e.check
    # the same page for a game task: a tiny play area that cannot be steered is not a valid game
    # (turns are per attempt: two each keep the three attempts of this run short)
    res = R.run_race("a moving dot game", PROFILES[1:2], backend_factory=factory_for({"spark": [game] * 20}, []),
                     workdir=tmp_path, console=quiet(), max_turns=2)
    e = res.entries[0]
    assert e.valid is False and "no keyboard controls" in e.check and "50x50" in e.check, e.check
