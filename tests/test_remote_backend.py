"""`OpenAIBackend` over real HTTP on loopback: sparkcode's own server, and tiny stub servers for
the failure modes (auth, unknown model, unreachable host, 429/503 retries, a dropped stream).

No model is loaded: the server in front is backed by a scripted fake.
"""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sparkcode.agent.loop import Agent, AgentConfig
from sparkcode.agent.workspace import Workspace
from sparkcode.backends.base import ChatRequest, collect
from sparkcode.backends.openai_http import OpenAIBackend, RemoteError
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.engine.stats import Done, TextDelta
from sparkcode.server import create_app

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, free_port, running
except ImportError:
    from test_server_support import FakeBackend, free_port, running

HI = [{"role": "user", "content": "hello remote world"}]
WRITE_FILE = 'FILE: hello.py\n```python\nprint("hello")\n```'


@pytest.fixture(scope="module")
def fake():
    return FakeBackend()


@pytest.fixture(scope="module")
def base_url(fake):
    with running(create_app(fake, max_tokens_cap=512)) as url:
        yield url + "/v1"


@pytest.fixture()
def remote(base_url, fake, monkeypatch):
    for var in ("SPARKCODE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    backend = OpenAIBackend(base_url, fake.name, retries=0)
    yield backend
    backend.close()


# -- against sparkcode's own server ---------------------------------------------------------------

def test_streams_text_then_one_done_with_stats(remote, fake):
    events = list(remote.stream_chat(ChatRequest(HI, max_tokens=64)))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1 and isinstance(events[-1], Done)
    assert len(deltas) > 1, "the reply should arrive in several pieces, not one block"
    done = dones[0]
    assert "".join(deltas) == done.text == "Echo: hello remote world"
    assert done.finish_reason == "stop"
    s = done.stats
    assert s.decode_tokens == 4  # from the server's usage block, not a count of SSE chunks
    assert s.prompt_tokens > 0
    assert 0 < s.ttft_s <= s.wall_s and s.decode_s >= 0
    assert fake.generations[-1].messages == HI


def test_sampling_and_limits_reach_the_server(remote, fake):
    done = collect(remote, ChatRequest([{"role": "user", "content": "long"}], max_tokens=5))
    assert done.finish_reason == "length"
    assert done.stats.decode_tokens == 5
    assert fake.generations[-1].max_tokens == 5


def test_models_lists_the_served_model(remote, fake):
    assert remote.models() == [fake.name]


def test_should_stop_cancels_the_stream(remote):
    seen = []
    req = ChatRequest([{"role": "user", "content": "long"}], max_tokens=400, should_stop=lambda: len(seen) >= 3)
    for ev in remote.stream_chat(req):
        if isinstance(ev, TextDelta):
            seen.append(ev.text)
        else:
            done = ev
    assert done.finish_reason == "cancelled" and len(seen) == 3


def test_agent_runs_on_the_remote_backend_as_on_a_local_one(tmp_path, monkeypatch):
    for var in ("SPARKCODE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    tests = ("```python\nimport subprocess, sys\n\n\ndef test_says_hello():\n    r = subprocess.run([sys.executable, "
             "'hello.py'], capture_output=True, text=True)\n    assert r.stdout.strip() == 'hello'\n```")
    scripted = ScriptedBackend([WRITE_FILE, tests], name="scripted-coder")  # a turn, then the test writer
    with running(create_app(scripted)) as url:
        backend = OpenAIBackend(url + "/v1", "scripted-coder", retries=0)
        try:
            (tmp_path / "ws").mkdir()
            out = Agent(backend, Workspace(tmp_path / "ws"), AgentConfig(speculate="off")).run("write hello.py")
        finally:
            backend.close()
    assert out.status == "done", out.summary
    assert out.files_written == ["hello.py"]
    assert (tmp_path / "ws" / "hello.py").read_text().strip() == 'print("hello")'
    req, writer = scripted.requests
    assert req.messages[0]["role"] == "system" and "write hello.py" in req.messages[1]["content"]
    assert "acceptance tests" in writer.messages[0]["content"] and "write hello.py" in writer.messages[1]["content"]
    assert out.turns[0].completion_tokens > 0 and out.turns[0].ttft_s > 0


def test_wrong_api_key_is_refused_with_a_message_about_the_key(monkeypatch):
    for var in ("SPARKCODE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with running(create_app(FakeBackend(), api_key="s3cret")) as url:
        wrong = OpenAIBackend(url + "/v1", "fake-coder", api_key="nope", retries=3, backoff_s=5)
        none = OpenAIBackend(url + "/v1", "fake-coder", retries=3, backoff_s=5)
        right = OpenAIBackend(url + "/v1", "fake-coder", api_key="s3cret", retries=0)
        try:
            t0 = time.monotonic()
            for backend in (wrong, none):
                with pytest.raises(RemoteError) as e:
                    collect(backend, ChatRequest(HI))
                msg = str(e.value)
                assert "API key" in msg and "401" in msg and "SPARKCODE_API_KEY" in msg
            assert time.monotonic() - t0 < 3, "an auth failure must not be retried"
            assert collect(right, ChatRequest(HI)).text == "Echo: hello remote world"
        finally:
            for b in (wrong, none, right):
                b.close()


def test_api_key_from_the_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("SPARKCODE_API_KEY", "from-env")
    with running(create_app(FakeBackend(), api_key="from-env")) as url:
        backend = OpenAIBackend(url + "/v1", "fake-coder", retries=0)
        try:
            assert collect(backend, ChatRequest(HI)).finish_reason == "stop"
        finally:
            backend.close()


def test_unknown_model_is_a_clear_error(base_url, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SPARKCODE_API_KEY", raising=False)
    backend = OpenAIBackend(base_url, "gpt-17-ultra", retries=2, backoff_s=5)
    try:
        t0 = time.monotonic()
        with pytest.raises(RemoteError) as e:
            collect(backend, ChatRequest(HI))
        assert time.monotonic() - t0 < 3, "an unknown model must not be retried"
    finally:
        backend.close()
    msg = str(e.value)
    assert "gpt-17-ultra" in msg and "404" in msg
    assert fake.name in msg  # says which models the server does have


def test_api_base_without_v1_says_so(base_url, fake):
    root = base_url.removesuffix("/v1")
    backend = OpenAIBackend(root, fake.name, retries=0)
    try:
        with pytest.raises(RemoteError) as e:
            collect(backend, ChatRequest(HI))
    finally:
        backend.close()
    msg = str(e.value)
    assert "/v1" in msg and "has no model" not in msg


def test_unreachable_host_fails_fast_with_cannot_reach():
    port = free_port()  # bound then released: nothing listens there
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", retries=2, backoff_s=0.01)
    try:
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="cannot reach"):
            collect(backend, ChatRequest(HI))
        assert time.monotonic() - t0 < 2
    finally:
        backend.close()


def test_default_retries_on_an_unreachable_host_stay_short():
    port = free_port()
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m")
    try:
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="cannot reach"):
            collect(backend, ChatRequest(HI))
        assert time.monotonic() - t0 < 5
    finally:
        backend.close()


def test_api_base_must_be_http():
    with pytest.raises(Exception, match="http"):
        OpenAIBackend("localhost:8000/v1", "m")


# -- stub servers for retries and broken streams --------------------------------------------------

def sse_body(text: str, usage: dict | None = None) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in re.findall(r"\s*\S+", text)]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({"choices": [], "usage": usage})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


class Stub:
    """A loopback HTTP server whose answer to the n-th POST is `plan(n)`: (status, headers, body)
    or "drop" (send a 200 header and one chunk, then close the connection)."""

    def __init__(self, plan):
        self.plan, self.calls, self.bodies = plan, 0, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                stub.bodies.append(json.loads(body))
                stub.calls += 1
                answer = stub.plan(stub.calls)
                if answer == "drop":
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("content-length", "100000")
                    self.end_headers()
                    self.wfile.write(b'data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\n')
                    self.wfile.flush()
                    self.close_connection = True
                    return
                status, headers, payload = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextmanager
    def serving(self):
        t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        try:
            yield self.url
        finally:
            self.server.shutdown()
            self.server.server_close()
            t.join(5)


def error(status: int, message: str, headers: dict | None = None):
    body = json.dumps({"error": {"message": message, "type": "x", "param": None, "code": None}}).encode()
    return status, {"content-type": "application/json", **(headers or {})}, body


OK = (200, {"content-type": "text/event-stream"},
      sse_body("all good now", {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                                "prompt_tokens_details": {"cached_tokens": 8}}))


def test_503_twice_then_success_is_retried():
    stub = Stub(lambda n: error(503, "warming up") if n <= 2 else OK)
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", api_key="k", retries=3, backoff_s=0.01)
        try:
            done = collect(backend, ChatRequest(HI, max_tokens=7))
        finally:
            backend.close()
    assert stub.calls == 3
    assert done.text == "all good now" and done.finish_reason == "stop"
    assert done.stats.decode_tokens == 3 and done.stats.prompt_tokens == 12 and done.stats.cached_tokens == 8
    body = stub.bodies[-1]
    assert body["model"] == "m" and body["stream"] is True and body["max_tokens"] == 7 and body["messages"] == HI


def test_429_forever_gives_up_after_the_retries():
    stub = Stub(lambda n: error(429, "slow down", {"retry-after": "0"}))
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", retries=2, backoff_s=0.01)
        try:
            t0 = time.monotonic()
            with pytest.raises(RemoteError) as e:
                collect(backend, ChatRequest(HI))
            assert time.monotonic() - t0 < 3
        finally:
            backend.close()
    assert stub.calls == 3  # the first try and two retries
    assert "429" in str(e.value) and "slow down" in str(e.value)


def test_retry_after_is_honoured():
    stub = Stub(lambda n: error(429, "busy", {"retry-after": "0.3"}) if n == 1 else OK)
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", retries=1, backoff_s=0.01)
        try:
            t0 = time.monotonic()
            done = collect(backend, ChatRequest(HI))
            waited = time.monotonic() - t0
        finally:
            backend.close()
    assert done.text == "all good now" and stub.calls == 2
    assert waited >= 0.25


def test_a_stream_that_breaks_after_the_first_token_is_not_replayed():
    stub = Stub(lambda n: "drop")
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", retries=3, backoff_s=0.01)
        got = []
        try:
            with pytest.raises(RemoteError) as e:
                for ev in backend.stream_chat(ChatRequest(HI)):
                    got.append(ev)
        finally:
            backend.close()
    assert stub.calls == 1
    assert [g.text for g in got if isinstance(g, TextDelta)] == ["half"]
    assert "mid-stream" in str(e.value) or "connection" in str(e.value).lower()


def test_error_event_inside_the_stream_is_raised():
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
            b'data: {"error":{"message":"the backend failed: boom"}}\n\ndata: [DONE]\n\n')
    stub = Stub(lambda n: (200, {"content-type": "text/event-stream"}, body))
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", retries=3, backoff_s=0.01)
        try:
            with pytest.raises(RemoteError, match="boom"):
                collect(backend, ChatRequest(HI))
        finally:
            backend.close()
    assert stub.calls == 1


def test_non_json_error_page_is_reported():
    stub = Stub(lambda n: (502, {"content-type": "text/html"}, b"<html>Bad Gateway</html>"))
    with stub.serving() as url:
        backend = OpenAIBackend(url, "m", retries=1, backoff_s=0.01)
        try:
            with pytest.raises(RemoteError, match="502.*Bad Gateway"):
                collect(backend, ChatRequest(HI))
        finally:
            backend.close()
    assert stub.calls == 2
