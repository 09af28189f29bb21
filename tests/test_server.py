"""The OpenAI-compatible server against a scripted fake backend: API shapes, tools, errors, security.

Runs uvicorn on 127.0.0.1 in a background thread; no model is loaded.
"""

from __future__ import annotations

import http.client as http_client
import json
import threading
import time
from urllib.parse import urlparse

import httpx
import openai
import pytest
from websockets.sync.client import connect as ws_connect

from sparkcode.errors import EngineError, SparkcodeError
from sparkcode.server import create_app, serve
from sparkcode.server.run import is_loopback, resolve_api_key
try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import WEATHER_CALL, FakeBackend, running
except ImportError:
    from test_server_support import WEATHER_CALL, FakeBackend, running

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def weather_script(req):
    last = req.messages[-1]
    content = str(last.get("content") or "")
    if last["role"] == "tool":
        return f"The weather in Paris is {content}."
    if content.startswith("fail"):
        raise RuntimeError("scripted backend failure")
    if content.startswith("overflow"):
        raise EngineError("prompt is 9000 tokens but the context holds 8192")
    if content.startswith("forever"):
        return " ".join(f"w{i}" for i in range(20000))
    if req.tools and content.startswith("check"):
        return "Let me check. " + WEATHER_CALL
    if req.tools and "weather" in content:
        return WEATHER_CALL
    if content.startswith("html"):
        return "Here:\n```html\n<!DOCTYPE html><p>hi</p>\n```"
    return f"Echo: {content}"


@pytest.fixture(scope="module")
def fake():
    return FakeBackend(weather_script)


@pytest.fixture(scope="module")
def base_url(fake):
    with running(create_app(fake, max_tokens_cap=256)) as url:
        yield url


@pytest.fixture()
def http(base_url):
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


@pytest.fixture()
def client(base_url):
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=10)


def assert_openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code
    return err


# -- the OpenAI client ---------------------------------------------------------------------------

def test_list_models(client, fake):
    models = client.models.list()
    assert [m.id for m in models.data] == [fake.name]
    assert client.models.retrieve(fake.name).id == fake.name


def test_chat_non_stream(client, fake):
    r = client.chat.completions.create(model=fake.name, messages=[{"role": "user", "content": "hello there"}])
    assert r.choices[0].message.content == "Echo: hello there"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 3 and r.usage.total_tokens == r.usage.prompt_tokens + 3
    stats = r.model_extra["sparkcode"]
    assert stats["decode_tokens"] == 3 and stats["ttft_s"] > 0 and "decode_tps" in stats


def test_chat_stream(client):
    stream = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "stream me"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream me"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert any((c.model_extra or {}).get("sparkcode") for c in chunks)


def test_stream_wire_format_ends_with_done(http):
    with http.stream("POST", "/v1/chat/completions",
                     json={"messages": [{"role": "user", "content": "x"}], "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith("data: ") for ln in lines)
    assert lines[-1] == "data: [DONE]"
    first = json.loads(lines[0][6:])
    assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"]["role"] == "assistant"


def test_tool_call_round_trip(client, fake):
    messages = [{"role": "user", "content": "what is the weather in Paris?"}]
    r = client.chat.completions.create(model=fake.name, messages=messages, tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert fake.generations[-1].tools == [WEATHER_TOOL]

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    r2 = client.chat.completions.create(model=fake.name, messages=messages, tools=[WEATHER_TOOL])
    assert r2.choices[0].message.content == "The weather in Paris is sunny."
    assert r2.choices[0].finish_reason == "stop"
    seen = fake.generations[-1].messages
    assert seen[1]["role"] == "assistant" and seen[1]["tool_calls"][0]["id"] == call.id
    assert seen[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": call.function.arguments}
    assert seen[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


def test_tool_call_streaming_holds_back_the_call(client):
    stream = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "check Paris"}],
                                            tools=[WEATHER_TOOL], stream=True)
    chunks = [c for c in stream if c.choices]
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content.strip() == "Let me check."
    assert "<tool" not in content
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_call_text_without_tools_stays_text(client):
    r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "weather?"}])
    assert r.choices[0].message.tool_calls is None and r.choices[0].finish_reason == "stop"


def test_completions_endpoint(client, fake):
    r = client.completions.create(model=fake.name, prompt="complete this")
    assert r.choices[0].text == "Echo: complete this" and r.usage.completion_tokens == 3
    assert fake.generations[-1].messages == [{"role": "user", "content": "complete this"}]
    chunks = list(client.completions.create(model=fake.name, prompt="streamed", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: streamed"


def test_max_tokens_is_capped_and_honoured(client, fake):
    client.chat.completions.create(model="default", messages=[{"role": "user", "content": "a"}], max_tokens=100_000)
    assert fake.generations[-1].max_tokens == 256
    r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "one two three"}],
                                       max_tokens=2)
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "Echo: one"


@pytest.mark.parametrize("model", [None, "default", "fake-coder"])
def test_model_aliases(http, model):
    body = {"messages": [{"role": "user", "content": "hi"}]}
    if model:
        body["model"] = model
    assert http.post("/v1/chat/completions", json=body).status_code == 200


# -- errors --------------------------------------------------------------------------------------

MSG = [{"role": "user", "content": "hi"}]
BAD_REQUESTS = [
    ("malformed json", b'{"messages": [', 400, "invalid_json"),
    ("not an object", b"[1, 2]", 400, None),
    ("empty body", b"", 400, None),
    ("messages not a list", {"messages": "hi"}, 400, None),
    ("missing messages", {"model": "default"}, 400, None),
    ("empty messages", {"messages": []}, 400, None),
    ("bad role", {"messages": [{"role": "wizard", "content": "hi"}]}, 400, None),
    ("user without content", {"messages": [{"role": "user"}]}, 400, None),
    ("temperature string", {"messages": MSG, "temperature": "hot"}, 400, None),
    ("stream string", {"messages": MSG, "stream": "yes"}, 400, None),
    ("max_tokens zero", {"messages": MSG, "max_tokens": 0}, 400, None),
    ("max_tokens float", {"messages": MSG, "max_tokens": 1.5}, 400, None),
    ("n=2", {"messages": MSG, "n": 2}, 400, None),
    ("tools wrong shape", {"messages": MSG, "tools": [{"type": "function"}]}, 400, None),
    ("image part", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, 400, None),
    ("unknown model", {"model": "gpt-9", "messages": MSG}, 404, "model_not_found"),
    ("negative temperature", {"messages": MSG, "temperature": -1}, 400, None),
    ("top_p above one", {"messages": MSG, "top_p": 2}, 400, None),
    ("negative top_k", {"messages": MSG, "top_k": -3}, 400, None),
    ("oversized body", {"messages": [{"role": "user", "content": "x" * 1_100_000}]}, 413, "request_too_large"),
]


@pytest.mark.parametrize("name,body,status,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_are_clean_openai_errors(http, name, body, status, code):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = http.post("/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    err = assert_openai_error(r, status, code)
    if name == "negative temperature":
        assert err["param"] == "temperature" and "temperature" in err["message"]
    if name == "messages not a list":
        assert err["param"] == "messages"
    assert http.get("/health").json()["status"] == "ok"


def test_bad_completions_request(http):
    assert_openai_error(http.post("/v1/completions", json={"prompt": 5}), 400)
    assert_openai_error(http.post("/v1/completions", json={"prompt": ["a", "b"]}), 400)
    assert_openai_error(http.post("/v1/completions", json={"prompt": "a", "model": "nope"}), 404, "model_not_found")


def test_unknown_route_and_method(http):
    assert_openai_error(http.get("/v1/nothing"), 404)
    assert_openai_error(http.get("/v1/chat/completions"), 405)


def test_backend_failure_is_500_and_server_survives(http, client):
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "fail now"}]})
    err = assert_openai_error(r, 500, "backend_error")
    assert err["type"] == "server_error"
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "fail"}], "stream": True})
    assert_openai_error(r, 500, "backend_error")
    assert http.get("/health").json()["status"] == "ok"
    assert client.chat.completions.create(model="default", messages=MSG).choices[0].message.content == "Echo: hi"


def test_engine_error_is_400(http):
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "overflow"}]})
    assert "context" in assert_openai_error(r, 400)["message"]
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "overflow"}], "stream": True})
    assert_openai_error(r, 400)


def test_body_just_under_the_limit_is_accepted(http):
    big = "x" * 900_000
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": big}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Echo: " + big


def test_wall_time_limit_stops_the_generation():
    fake = FakeBackend(weather_script)
    with running(create_app(fake, request_timeout_s=0.2)) as url, httpx.Client(base_url=url, timeout=10) as c:
        t0 = time.monotonic()
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "forever"}]})
        assert time.monotonic() - t0 < 5
        assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "length"
        assert fake.generations[-1].stopped_early and fake.generations[-1].emitted > 0


def test_non_stream_client_disconnect_stops_the_generation():
    fake = FakeBackend(weather_script)
    with running(create_app(fake)) as url, httpx.Client(base_url=url) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", timeout=0.3, json={"messages": [{"role": "user", "content": "forever!"}]})
        _wait(lambda: c.get("/health").json()["in_flight"] == 0)
    gen = fake.generations[-1]
    assert gen.messages[-1]["content"] == "forever!" and gen.stopped_early and gen.emitted < gen.planned


def test_queue_full_is_429_with_retry_after():
    slow = FakeBackend(delay_s=0.003)
    with running(create_app(slow, max_queue=1)) as url:
        results: dict[str, httpx.Response] = {}

        def post(tag: str):
            with httpx.Client(base_url=url, timeout=30) as c:
                results[tag] = c.post("/v1/chat/completions",
                                      json={"messages": [{"role": "user", "content": "long " + tag}]})

        with httpx.Client(base_url=url) as c:
            first = threading.Thread(target=post, args=("a",))
            first.start()
            _wait(lambda: c.get("/health").json()["in_flight"] == 1)
            second = threading.Thread(target=post, args=("b",))
            second.start()
            _wait(lambda: c.get("/health").json()["queue_depth"] == 1)
            r = c.post("/v1/chat/completions", json={"messages": MSG})
            assert_openai_error(r, 429, "queue_full")
            assert int(r.headers["Retry-After"]) >= 1
            metrics = c.get("/metrics").text
            assert "sparkcode_queue_depth 1" in metrics and "sparkcode_in_flight 1" in metrics
        first.join()
        second.join()
        assert results["a"].status_code == 200 and results["b"].status_code == 200
        assert slow.max_concurrent == 1
        with httpx.Client(base_url=url) as c:
            values = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in c.get("/metrics").text.splitlines()
                      if ln and not ln.startswith("#")}
        assert values["sparkcode_queue_wait_seconds_count"] == 2  # the two that ran; the refused one never waited
        assert values["sparkcode_queue_wait_seconds_sum"] > 0  # the second waited for the first


def test_a_local_engine_reports_its_kv_cells_and_its_one_slot():
    from types import SimpleNamespace

    from sparkcode.backends.local import LocalBackend

    engine = SimpleNamespace(cached=[1, 2, 3], n_ctx=8192, model_name="m")
    assert LocalBackend(engine).kv_usage() == (3, 8192)

    class KVFake(FakeBackend):
        def kv_usage(self):
            return len(engine.cached), engine.n_ctx

    with running(create_app(KVFake())) as url, httpx.Client(base_url=url) as c:
        h = c.get("/health").json()
        assert h["slots"] == [{"id": 0, "state": "idle", "kv_cells_used": 3, "kv_cells_total": 8192}]
        text = c.get("/metrics").text
        assert "sparkcode_kv_cells_used 3" in text and "sparkcode_kv_cells_total 8192" in text


def _wait(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- security ------------------------------------------------------------------------------------

def test_public_bind_requires_api_key(monkeypatch):
    monkeypatch.delenv("SPARKCODE_API_KEY", raising=False)
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        with pytest.raises(SparkcodeError, match="API key"):
            serve(FakeBackend(), host=host, port=1)
    assert resolve_api_key("127.0.0.1", None) is None
    assert resolve_api_key("0.0.0.0", "k") == "k"
    monkeypatch.setenv("SPARKCODE_API_KEY", "from-env")
    assert resolve_api_key("0.0.0.0", None) == "from-env"
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "localhost.evil.com"))


def test_api_key_enforced():
    with running(create_app(FakeBackend(), api_key="s3cret")) as url, httpx.Client(base_url=url) as c:
        body = {"messages": MSG}
        assert_openai_error(c.post("/v1/chat/completions", json=body), 401, "invalid_api_key")
        wrong = {"Authorization": "Bearer nope"}
        assert_openai_error(c.post("/v1/chat/completions", json=body, headers=wrong), 401, "invalid_api_key")
        assert_openai_error(c.get("/v1/models", headers=wrong), 401)
        assert_openai_error(c.get("/metrics"), 401)
        assert_openai_error(c.get("/v1/models", headers={"Authorization": "Basic s3cret"}), 401)
        assert c.get("/health").status_code == 200
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        good = {"Authorization": "Bearer s3cret"}
        assert c.post("/v1/chat/completions", json=body, headers=good).status_code == 200
        oa = openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
        assert oa.chat.completions.create(model="default", messages=MSG).choices[0].message.content == "Echo: hi"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="bad", max_retries=0).models.list()
        ws_url = url.replace("http", "ws") + "/v1/sessions/ws"
        with pytest.raises(Exception):
            with ws_connect(ws_url, open_timeout=5) as ws:
                ws.recv(timeout=5)
        with ws_connect(ws_url, additional_headers=good, open_timeout=5) as ws:
            ws.send(json.dumps({"type": "message", "content": "hi"}))
            assert _ws_until_done(ws)[-1]["text"] == "Echo: hi"


TRAVERSALS = ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fapp.py",
              "/static/..%5capp.py", "/static/%252e%252e%252fapp.py", "/static/..%2f..%2fserver%2fapp.py",
              "/static/app.py", "/static/./app.py", "/static/%2fetc%2fpasswd", "/static//etc/passwd",
              "/static/index.html/../../app.py", "/static/.%2e/app.py", "/static/..\\app.py"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_path_traversal_refused(base_url, path):
    u = urlparse(base_url)
    conn = http_client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        conn.request("GET", path)  # sent verbatim: http.client does not normalise dot segments
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
    finally:
        conn.close()
    assert resp.status in (400, 404), (path, resp.status)
    assert "create_app" not in body and "root:" not in body


def test_static_page(http):
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for el in ('id="prompt"', 'id="send"', 'id="output"', 'id="preview"', 'id="meter"', 'id="turns"'):
        assert el in page.text
    assert 'sandbox="allow-scripts"' in page.text and "allow-same-origin" not in page.text
    assert http.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/static/style.css").status_code == 200


def test_cors_only_when_configured(http):
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in http.options("/v1/chat/completions", headers=pre).headers
    with running(create_app(FakeBackend(), cors_origins=["http://ok.example"])) as url, httpx.Client(base_url=url) as c:
        r = c.options("/v1/chat/completions", headers={**pre, "Origin": "http://ok.example"})
        assert r.headers["access-control-allow-origin"] == "http://ok.example"
        r = c.get("/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


# -- metrics -------------------------------------------------------------------------------------

def test_metrics(http):
    http.post("/v1/chat/completions", json={"messages": MSG})
    http.post("/v1/chat/completions", content=b"{", headers={"Content-Type": "application/json"})
    http.post("/v1/responses", json={"input": "hi"})
    text = http.get("/metrics").text
    assert 'sparkcode_requests_total{endpoint="/v1/responses",status="200"}' in text  # was counted as "other"
    assert 'sparkcode_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'sparkcode_requests_total{endpoint="/v1/chat/completions",status="400"}' in text
    values = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines() if ln and not ln.startswith("#")}
    assert values["sparkcode_tokens_generated_total"] > 0
    assert values["sparkcode_ttft_seconds_count"] > 0 and values["sparkcode_decode_tokens_per_second_count"] > 0
    assert values["sparkcode_queue_depth"] == 0 and values["sparkcode_in_flight"] == 0
    assert 'sparkcode_ttft_seconds_bucket{le="+Inf"}' in text
    assert "# TYPE sparkcode_queue_depth gauge" in text


# -- WebSocket sessions --------------------------------------------------------------------------

def _ws_until_done(ws, timeout=10) -> list[dict]:
    events = []
    while True:
        ev = json.loads(ws.recv(timeout=timeout))
        events.append(ev)
        if ev["type"] in ("done", "error"):
            return events


def test_ws_session_two_turns_keep_history(base_url, fake):
    with ws_connect(base_url.replace("http", "ws") + "/v1/sessions/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "start", "system": "be brief", "max_tokens": 64}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "ready", "model": fake.name, "mode": "chat"}
        ws.send(json.dumps({"type": "message", "content": "first question"}))
        events = _ws_until_done(ws)
        tokens = [e["text"] for e in events if e["type"] == "token"]
        done = events[-1]
        assert done["type"] == "done" and done["turn"] == 1 and done["text"] == "Echo: first question"
        assert "".join(tokens) == done["text"] and len(tokens) == 3
        assert done["stats"]["decode_tokens"] == 3 and done["finish_reason"] == "stop"

        ws.send("this is not json")  # recoverable: an error event, the socket stays open
        assert json.loads(ws.recv(timeout=5))["type"] == "error"
        ws.send(json.dumps({"type": "message", "content": ""}))
        assert json.loads(ws.recv(timeout=5))["type"] == "error"

        ws.send(json.dumps({"type": "message", "content": "second question"}))
        done2 = _ws_until_done(ws)[-1]
        assert done2["turn"] == 2 and done2["text"] == "Echo: second question"
        gen = fake.generations[-1]
        assert gen.max_tokens == 64
        assert gen.messages == [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "Echo: first question"},
            {"role": "user", "content": "second question"},
        ]


class SlowTailSession:
    """Sends "done", then keeps its job busy a little longer (as real sessions may, briefly)."""

    def __init__(self, backend, options):
        self.turns = 0
        self.running = False
        self.overlapped = False

    def handle(self, message, emit):
        self.overlapped |= self.running
        self.running = True
        self.turns += 1
        emit({"type": "token", "text": message})
        emit({"type": "done", "turn": self.turns})
        time.sleep(0.2)
        self.running = False


def test_ws_next_message_right_after_done_is_not_busy():
    # a client that answers "done" at once must not be told "busy"; its turn queues behind the tail
    sessions = []

    def factory(backend, options):
        sessions.append(SlowTailSession(backend, options))
        return sessions[-1]

    with running(create_app(FakeBackend(), session_factory=factory)) as url:
        with ws_connect(url.replace("http", "ws") + "/v1/sessions/ws", open_timeout=5) as ws:
            for i in range(3):
                ws.send(json.dumps({"type": "message", "content": f"q{i}"}))
                if i == 0:
                    assert json.loads(ws.recv(timeout=5))["type"] == "ready"
                events = _ws_until_done(ws)
                assert events[-1] == {"type": "done", "turn": i + 1}, events
    assert sessions[0].turns == 3 and not sessions[0].overlapped


def test_ws_failed_turn_is_recoverable(base_url, fake):
    with ws_connect(base_url.replace("http", "ws") + "/v1/sessions/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "message", "content": "fail please"}))
        events = _ws_until_done(ws)
        assert events[-1]["type"] == "error" and "scripted backend failure" in events[-1]["message"]
        ws.send(json.dumps({"type": "message", "content": "again"}))
        done = _ws_until_done(ws)[-1]
        assert done["type"] == "done" and done["turn"] == 1
        assert fake.generations[-1].messages == [{"role": "user", "content": "again"}]


def test_ws_cancel_stops_the_turn(base_url, fake):
    with ws_connect(base_url.replace("http", "ws") + "/v1/sessions/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "message", "content": "forever x"}))  # only a cancel ends it
        assert json.loads(ws.recv(timeout=5))["type"] == "ready"  # implicit start
        first = json.loads(ws.recv(timeout=5))
        assert first["type"] == "token"
        ws.send(json.dumps({"type": "cancel"}))
        done = _ws_until_done(ws)[-1]
        assert done["type"] == "done" and done["finish_reason"] == "cancelled"
    gen = fake.generations[-1]
    assert gen.stopped_early and gen.emitted < gen.planned


class EchoAgent:
    """A stand-in for the coding agent: uses the scheduled backend and emits its own events."""

    def __init__(self, backend, options):
        self.backend, self.options, self.turns = backend, options, 0

    def handle(self, message, emit):
        from sparkcode.backends.base import ChatRequest, collect

        self.turns += 1
        emit({"type": "agent_step", "step": "thinking", "workspace": self.options.get("workspace")})
        done = collect(self.backend, ChatRequest(messages=[{"role": "user", "content": message}]))
        emit({"type": "done", "text": done.text.upper(), "turn": self.turns, "stats": done.stats.to_dict()})


def test_ws_session_factory_runs_the_agent():
    agent_backend = FakeBackend()
    with running(create_app(agent_backend, session_factory=EchoAgent)) as url:
        with ws_connect(url.replace("http", "ws") + "/v1/sessions/ws", open_timeout=5) as ws:
            ws.send(json.dumps({"type": "start", "workspace": "/tmp/w"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "ready"
            ws.send(json.dumps({"type": "message", "content": "fix it"}))
            events = _ws_until_done(ws)
            assert events[0] == {"type": "agent_step", "step": "thinking", "workspace": "/tmp/w"}
            assert events[-1]["text"] == "ECHO: FIX IT" and events[-1]["turn"] == 1
        with httpx.Client(base_url=url) as c:
            assert "sparkcode_tokens_generated_total 3" in c.get("/metrics").text
