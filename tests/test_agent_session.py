"""Agent sessions over the WebSocket (/v1/sessions/ws, mode "agent") with a scripted model.

One uvicorn server per test on 127.0.0.1; no model is loaded. Checks the event stream of a
turn, that later messages continue the same conversation (full history to the model), that
each session gets its own folder, failures and cancels, and that plain chat still works beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from sparkcode.agent import prompts
from sparkcode.agent.loop import AgentConfig
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.server import agent_session_factory, create_app

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, running
except ImportError:
    from test_server_support import FakeBackend, running

WRITE_HELLO = 'Writing it.\nFILE: hello.py\n```python\nprint("hi")\n```'
EDIT_HELLO = 'hello.py\n<<<<<<< SEARCH\nprint("hi")\n=======\nprint("hello, world")\n>>>>>>> REPLACE'


def accept(says: str) -> str:
    """The acceptance-test writer's reply (a separate generation after Python code first compiles in a run)."""
    return ("FILE: t.py\n```python\nimport subprocess, sys\n\ndef test_runs():\n"
            "    r = subprocess.run([sys.executable, 'hello.py'], capture_output=True, text=True)\n"
            f"    assert r.returncode == 0 and {says!r} in r.stdout\n```")


ACCEPT_HI, ACCEPT_HELLO = accept("hi"), accept("hello, world")


def is_acceptance(req) -> bool:
    return req.messages[0]["content"] == prompts.ACCEPTANCE_SYSTEM


def ws_url(base: str) -> str:
    return base.replace("http", "ws", 1) + "/v1/sessions/ws"


def recv(ws, timeout: float = 20) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def until_done(ws, timeout: float = 20) -> list[dict]:
    events = []
    while True:
        ev = recv(ws, timeout)
        events.append(ev)
        if ev["type"] in ("done", "error"):
            return events


def start_agent(ws, **options) -> dict:
    ws.send(json.dumps({"type": "start", "mode": "agent", **options}))
    ready = recv(ws)
    assert ready["type"] == "ready", ready
    return ready


def collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t:
            out.append(t)
    return out


@pytest.fixture()
def root(tmp_path) -> Path:
    return tmp_path / "sessions"


def test_two_turns_over_one_socket(root):
    backend = ScriptedBackend([WRITE_HELLO, ACCEPT_HI, EDIT_HELLO, ACCEPT_HELLO])
    with running(create_app(backend, session_factory=agent_session_factory(root))) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            ready = start_agent(ws)
            assert ready["mode"] == "agent" and ready["model"] == "scripted" and ready["resumed"] is False
            sid = ready["session"]
            folder = root / sid
            assert folder.is_dir()

            ws.send(json.dumps({"type": "message", "content": "write hello.py that prints hi"}))
            events = until_done(ws)
            types = [e["type"] for e in events]
            assert collapse(types) == ["token", "tool", "note", "checks", "turn", "done"], types
            assert "acceptance tests" in next(e for e in events if e["type"] == "note")["text"]
            assert "".join(e["text"] for e in events if e["type"] == "token") == WRITE_HELLO
            tool = next(e for e in events if e["type"] == "tool")
            assert tool["name"] == "write_file" and tool["ok"] is True and tool["path"] == "hello.py"
            assert tool["files"] == ["hello.py"] and isinstance(tool["output"], str)
            checks = next(e for e in events if e["type"] == "checks")
            assert [(r["path"], r["ok"], r["behavioural"]) for r in checks["results"]] == [
                ("hello.py", True, False), (".sparkcode/acceptance/test_task.py", True, True)]
            assert checks["results"][0]["message"] == "compiles"
            assert all(r["missing"] == [] for r in checks["results"])
            turn = next(e for e in events if e["type"] == "turn")
            assert turn["stats"]["turn"] == 1 and turn["stats"]["completion_tokens"] > 0
            done = events[-1]
            assert done["session"] == sid and done["message"] == 1
            outcome = done["outcome"]
            assert outcome["status"] == "done" and outcome["files_written"] == ["hello.py"]
            assert len(outcome["turns"]) == 1 and outcome["tokens_out"] > 0
            assert outcome["session"].startswith(f"{sid}/.sparkcode/sessions/")  # no server paths leak
            assert (folder / "hello.py").read_text() == 'print("hi")\n'  # the file of turn 1 exists

            ws.send(json.dumps({"type": "message", "content": "make it say hello, world"}))
            events2 = until_done(ws)
            assert collapse([e["type"] for e in events2]) == ["token", "tool", "note", "checks", "turn", "done"]
            tool2 = next(e for e in events2 if e["type"] == "tool")
            assert tool2["name"] == "edit_file" and tool2["ok"] and tool2["path"] == "hello.py"
            assert events2[-1]["outcome"]["status"] == "done" and events2[-1]["message"] == 2
            assert (folder / "hello.py").read_text() == 'print("hello, world")\n'

    # requests 1 and 3 are the acceptance-test writer's, apart from the conversation
    assert [is_acceptance(r) for r in backend.requests] == [False, True, False, True]
    assert "write hello.py that prints hi" in backend.requests[1].messages[1]["content"]
    # the model saw the whole conversation on the second message, prefix first (for the KV cache)
    first, second = backend.requests[0].messages, backend.requests[2].messages
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[:2] == first
    assert "write hello.py that prints hi" in second[1]["content"]
    assert second[2] == {"role": "assistant", "content": WRITE_HELLO}
    assert second[3] == {"role": "user", "content": "make it say hello, world"}


def test_each_session_gets_its_own_folder_and_chat_still_works(root):
    backend = FakeBackend()  # "Echo: ..." for chat; for the agent, a reply without actions
    factory = agent_session_factory(root, config=AgentConfig(max_turns=1))
    with running(create_app(backend, session_factory=factory)) as url:
        with ws_connect(ws_url(url), open_timeout=5) as a, ws_connect(ws_url(url), open_timeout=5) as b, \
                ws_connect(ws_url(url), open_timeout=5) as chat:
            sa, sb = start_agent(a)["session"], start_agent(b)["session"]
            assert sa != sb and (root / sa).is_dir() and (root / sb).is_dir()

            chat.send(json.dumps({"type": "start", "system": "be brief"}))  # no mode: plain chat
            assert recv(chat) == {"type": "ready", "model": backend.name, "mode": "chat"}
            chat.send(json.dumps({"type": "message", "content": "hello"}))
            done = until_done(chat)[-1]
            assert done["type"] == "done" and done["text"] == "Echo: hello" and done["turn"] == 1

            a.send(json.dumps({"type": "message", "content": "just talk"}))
            done_a = until_done(a)[-1]
            assert done_a["type"] == "done" and done_a["outcome"]["status"] == "max_turns"
            assert (root / sa / ".sparkcode" / "sessions").is_dir()
            assert not (root / sb / ".sparkcode").exists()


def test_agent_error_is_an_error_event_and_the_socket_stays_open(root):
    def boom(_req):
        raise RuntimeError("the model fell over")

    backend = ScriptedBackend([boom, WRITE_HELLO, ACCEPT_HI])
    with running(create_app(backend, session_factory=agent_session_factory(root))) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            start_agent(ws)
            ws.send(json.dumps({"type": "message", "content": "write hello.py"}))
            events = until_done(ws)
            assert events[-1]["type"] == "error" and "the model fell over" in events[-1]["message"]
            assert events[-1]["code"] == "turn_failed"

            ws.send(json.dumps({"type": "message", "content": "try again"}))  # same socket, same conversation
            done = until_done(ws)[-1]
            assert done["type"] == "done" and done["outcome"]["status"] == "done"
    retry = backend.requests[1].messages
    # the failed turn left the task as the last message; the retry is joined to it, not a 2nd user message
    assert [m["role"] for m in retry] == ["system", "user"]
    assert "write hello.py" in retry[1]["content"] and retry[1]["content"].endswith("try again")


def test_cancel_ends_the_run_as_interrupted_and_the_next_message_carries_on(root):
    forever = " ".join(f"w{i}" for i in range(20000))
    backend = FakeBackend(lambda req: forever if not backend.generations
                          else ACCEPT_HI if is_acceptance(req) else WRITE_HELLO)
    with running(create_app(backend, session_factory=agent_session_factory(root))) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            start_agent(ws)
            ws.send(json.dumps({"type": "message", "content": "write forever"}))
            assert recv(ws)["type"] == "token"
            ws.send(json.dumps({"type": "cancel"}))
            events = until_done(ws)
            done = events[-1]
            assert done["type"] == "done" and done["outcome"]["status"] == "interrupted", done
            assert "turn" not in [e["type"] for e in events]  # the cut reply was not acted on
            assert backend.generations[0].stopped_early

            ws.send(json.dumps({"type": "message", "content": "just write hello.py"}))
            assert until_done(ws)[-1]["outcome"]["status"] == "done"
    retry = backend.generations[1].messages
    assert [m["role"] for m in retry] == ["system", "user"]
    assert "write forever" in retry[1]["content"] and retry[1]["content"].endswith("just write hello.py")


def test_reattach_by_session_id_continues_the_conversation(root):
    backend = ScriptedBackend([WRITE_HELLO, ACCEPT_HI, EDIT_HELLO, ACCEPT_HELLO])
    with running(create_app(backend, session_factory=agent_session_factory(root))) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            sid = start_agent(ws)["session"]
            ws.send(json.dumps({"type": "message", "content": "write hello.py"}))
            assert until_done(ws)[-1]["type"] == "done"
            with ws_connect(ws_url(url), open_timeout=5) as other:  # one socket per session at a time
                other.send(json.dumps({"type": "start", "mode": "agent", "session": sid}))
                err = recv(other)
                assert err["type"] == "error" and "another connection" in err["message"]
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            ready = start_agent(ws, session=sid)
            assert ready["session"] == sid and ready["resumed"] is True
            ws.send(json.dumps({"type": "message", "content": "make it say hello, world"}))
            assert until_done(ws)[-1]["outcome"]["status"] == "done"
    assert [m["role"] for m in backend.requests[2].messages] == ["system", "user", "assistant", "user"]
    assert (root / sid / "hello.py").read_text() == 'print("hello, world")\n'


@pytest.mark.parametrize("start, code", [
    ({"mode": "agent", "session": "../../etc"}, "invalid_start"),
    ({"mode": "agent", "session": "0123456789abcdef"}, "invalid_start"),  # well-formed, unknown
    ({"mode": "agent", "workspace": "/etc"}, "invalid_start"),  # the folder is the server's choice
    ({"mode": "agent", "max_turns": 0}, "invalid_start"),
    ({"mode": "robot"}, "mode_unavailable"),
])
def test_bad_agent_starts_are_refused(root, start, code):
    with running(create_app(FakeBackend(), session_factory=agent_session_factory(root))) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            ws.send(json.dumps({"type": "start", **start}))
            err = recv(ws)
            assert err["type"] == "error" and err["code"] == code, err
            ws.send(json.dumps({"type": "message", "content": "hi"}))  # still usable: plain chat
            assert recv(ws)["mode"] == "chat"
            assert until_done(ws)[-1]["text"] == "Echo: hi"
    assert [p.name for p in root.iterdir()] == []


def test_agent_mode_needs_a_factory():
    with running(create_app(FakeBackend())) as url:
        with ws_connect(ws_url(url), open_timeout=5) as ws:
            ws.send(json.dumps({"type": "start", "mode": "agent"}))
            err = recv(ws)
            assert err["type"] == "error" and err["code"] == "mode_unavailable"
            assert "not enabled" in err["message"]
