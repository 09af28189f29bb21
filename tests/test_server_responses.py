"""The OpenAI Responses API (`/v1/responses`, HTTP and WebSocket mode) through the official client.

Protocol assertions run against the scripted fake backend; the last tests run the real 0.5B
model (tool round trip smoke test, and prefix-cache reuse through previous_response_id).
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseFunctionToolCall, ResponseOutputMessage
from websockets.sync.client import connect as ws_connect

from sparkcode.engine.stats import TextDelta
from sparkcode.errors import EngineError
from sparkcode.server import create_app
try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import WEATHER_CALL, FakeBackend, running
except ImportError:
    from test_server_support import WEATHER_CALL, FakeBackend, running

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "strict": False}


def script(req):
    last = req.messages[-1]
    content = str(last.get("content") or "")
    if last["role"] == "tool":
        return f"The weather in Paris is {content}."
    if content.startswith("overflow"):
        raise EngineError("prompt is 9000 tokens; the context holds 4096")
    if content.startswith("fail"):
        raise RuntimeError("scripted backend failure")
    if content.startswith("recall"):  # what did the user say first?
        first = next(m for m in req.messages if m["role"] == "user")
        return f"You said: {first['content']}"
    if content.startswith("long"):
        return " ".join(f"w{i}" for i in range(100))
    if req.tools and content.startswith("fenced"):  # a call in a ```json block amid text (the 1.5B under Codex)
        args = '{"city": 7}' if "wrong" in content else '{"city": "Paris"}'
        return f'I will look it up.\n```json\n{{"name": "get_weather", "arguments": {args}}}\n```\nDone.'
    if req.tools and content.startswith("code"):  # code in a fence is not a call
        return "Here:\n```python\nprint({'name': 'get_weather'})\n```\nRun it."
    if req.tools and content.startswith("bare"):  # a call without the <tool_call> tags, as small models write
        return '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    if content.startswith("json"):
        return '{"name": "not_a_tool", "arguments": {}}'
    if req.tools and content.startswith("check"):
        return "Let me check. " + WEATHER_CALL
    if req.tools and "weather" in content:
        return WEATHER_CALL
    return f"Echo: {content}"


@pytest.fixture(scope="module")
def fake():
    return FakeBackend(script)


@pytest.fixture(scope="module")
def base_url(fake):
    with running(create_app(fake, max_tokens_cap=256)) as url:
        yield url


@pytest.fixture()
def client(base_url):
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=10)


@pytest.fixture()
def http(base_url):
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def sse_events(http: httpx.Client, body: dict) -> list[tuple[str, dict]]:
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    out = []
    for block in raw.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:]
        out.append((lines[0][7:], data))
    return out


# -- HTTP -----------------------------------------------------------------------------------------

def test_non_stream(client, fake):
    r = client.responses.create(model=fake.name, input="hello there", instructions="Be brief.")
    assert isinstance(r, Response) and r.id.startswith("resp_") and r.object == "response"
    assert r.status == "completed" and r.output_text == "Echo: hello there"
    (msg,) = r.output
    assert isinstance(msg, ResponseOutputMessage) and msg.id.startswith("msg_") and msg.status == "completed"
    assert r.usage.output_tokens == 3 and r.usage.total_tokens == r.usage.input_tokens + 3
    assert r.usage.input_tokens_details.cached_tokens == 0 and r.usage.output_tokens_details.reasoning_tokens == 0
    seen = fake.generations[-1].messages
    assert seen[0] == {"role": "system", "content": "Be brief."} and seen[-1]["content"] == "hello there"
    assert r.model_extra["sparkcode"]["decode_tokens"] == 3


def test_stream_events_parse_into_sdk_types(client):
    with client.responses.stream(model="default", input=[{"role": "user", "content": "stream me"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"] + ["response.output_text.delta"] * (len(kinds) - 8) + [
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Echo: stream me"
    assert final.output_text == "Echo: stream me" and final.usage.output_tokens == 3


def test_stream_wire_format(http):
    events = sse_events(http, {"input": [{"type": "message", "role": "user",
                                          "content": [{"type": "input_text", "text": "wire"}]}]})
    created, completed = events[0][1], events[-1][1]
    assert created["response"]["status"] == "in_progress" and created["response"]["output"] == []
    assert completed["response"]["status"] == "completed"
    assert completed["response"]["id"] == created["response"]["id"]
    delta = next(d for k, d in events if k == "response.output_text.delta")
    assert set(delta) >= {"item_id", "output_index", "content_index", "delta", "sequence_number"}


def test_max_output_tokens_is_incomplete(client, http):
    r = client.responses.create(input="long answer please", max_output_tokens=5)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 5
    events = sse_events(http, {"input": "long answer", "max_output_tokens": 4})
    assert events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_tool_round_trip(client, fake):
    r = client.responses.create(input="what is the weather in Paris?", tools=[WEATHER_TOOL])
    (call,) = r.output
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "get_weather"
    assert call.call_id.startswith("call_") and call.id.startswith("fc_") and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert fake.generations[-1].tools == [{"type": "function", "function": {
        "name": "get_weather", "description": WEATHER_TOOL["description"], "parameters": WEATHER_TOOL["parameters"]}}]
    assert r.tools[0].name == "get_weather"

    # the client sends the whole conversation back, with the tool's output
    r2 = client.responses.create(input=[{"role": "user", "content": "what is the weather in Paris?"},
                                        call.model_dump(exclude_none=True),
                                        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
                                 tools=[WEATHER_TOOL])
    assert r2.output_text == "The weather in Paris is sunny."
    seen = fake.generations[-1].messages
    assert seen[1]["role"] == "assistant" and seen[1]["tool_calls"][0]["id"] == call.call_id
    assert seen[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_tool_call_streamed_after_text(client):
    with client.responses.stream(model="default", input="check the weather in Paris", tools=[WEATHER_TOOL]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    tail = ["response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert kinds[-5:] == tail
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Let me check. "
    msg, call = final.output
    assert msg.type == "message" and call.type == "function_call" and call.name == "get_weather"
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Paris"} and done.item_id == call.id


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_without_tags(client, stream):
    """A reply that is only `{"name": <declared tool>, "arguments": {...}}` is a call; other JSON stays text."""
    if stream:
        with client.responses.stream(model="default", input="bare weather in Paris", tools=[WEATHER_TOOL]) as s:
            assert not [e for e in s if e.type == "response.output_text.delta"]
            r = s.get_final_response()
    else:
        r = client.responses.create(input="bare weather in Paris", tools=[WEATHER_TOOL])
    (call,) = r.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    r = client.responses.create(input="json please", tools=[WEATHER_TOOL], stream=False)
    assert r.output_text == '{"name": "not_a_tool", "arguments": {}}'
    c = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "bare weather"}],
                                       tools=[{"type": "function", "function": {"name": "get_weather"}}], stream=stream)
    if stream:
        chunks = list(c)
        calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
        assert not "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    else:
        calls = c.choices[0].message.tool_calls
    assert [tc.function.name for tc in calls] == ["get_weather"]


def test_previous_response_id_continues_the_conversation(client, fake):
    r1 = client.responses.create(input="my name is Ada", instructions="first instructions")
    r2 = client.responses.create(input="recall my words", previous_response_id=r1.id)
    assert r2.output_text == "You said: my name is Ada"
    assert r2.previous_response_id == r1.id
    seen = fake.generations[-1].messages
    assert [m["role"] for m in seen] == ["user", "assistant", "user"]  # instructions are not carried over
    assert seen[1]["content"] == "Echo: my name is Ada"
    r3 = client.responses.create(input="recall again", previous_response_id=r2.id)
    assert r3.output_text == "You said: my name is Ada" and len(fake.generations[-1].messages) == 5


def test_unknown_previous_response_id_is_400(client, http):
    r = http.post("/v1/responses", json={"input": "x", "previous_response_id": "resp_nope"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "previous_response_not_found" and err["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(input="x", previous_response_id="resp_nope", stream=True)


def test_prompt_over_the_context(http):
    r = http.post("/v1/responses", json={"input": "overflow please"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    r = http.post("/v1/responses", json={"input": "overflow please", "stream": True})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    # the chat endpoint names it the same way
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "overflow"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_skipped_tools_and_ignored_fields(client, fake):
    r = client.responses.create(
        input="weather in Paris?", tools=[WEATHER_TOOL, {"type": "web_search"},
                                          {"type": "custom", "name": "apply_patch", "description": "patch"},
                                          {"type": "local_shell"}],
        tool_choice="auto", parallel_tool_calls=False, store=False, temperature=0, top_p=1,
        text={"format": {"type": "text"}}, include=["reasoning.encrypted_content"], reasoning={"effort": "low"},
        metadata={"k": "v"}, user="u", prompt_cache_key="abc")
    assert r.output[0].type == "function_call"
    (warning,) = r.model_extra["sparkcode"]["warnings"]
    assert "web_search" in warning and "custom:apply_patch" in warning and "local_shell" in warning
    assert [t["function"]["name"] for t in fake.generations[-1].tools] == ["get_weather"]
    assert r.metadata == {"k": "v"} and r.parallel_tool_calls is False


def test_input_items_of_every_kind(client, fake):
    r = client.responses.create(input=[
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]},
        {"type": "function_call", "call_id": "call_a", "name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"},
        {"type": "function_call_output", "call_id": "call_a", "output": [{"type": "input_text", "text": "snow"}]},
    ], tools=[WEATHER_TOOL])
    assert r.output_text == "The weather in Paris is snow."
    seen = fake.generations[-1].messages
    assert seen[0] == {"role": "system", "content": "dev"}
    assert seen[1]["content"] == "earlier" and seen[1]["tool_calls"][0]["id"] == "call_a"
    assert seen[2]["role"] == "tool" and seen[2]["content"] == "snow"


@pytest.mark.parametrize("body, param", [
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({}, "input"),
])
def test_bad_requests(http, body, param):
    r = http.post("/v1/responses", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


class MidStreamFailure(FakeBackend):
    def stream_chat(self, request):  # one piece of text, then the engine fails
        yield TextDelta("partial ")
        raise RuntimeError("the engine fell over")


def test_failure_after_streaming_began_is_response_failed():

    with running(create_app(MidStreamFailure(script))) as url, httpx.Client(base_url=url, timeout=10) as c:
        events = sse_events(c, {"input": "x"})
        assert events[-1][0] == "response.failed"
        resp = events[-1][1]["response"]
        assert resp["status"] == "failed" and resp["error"]["code"] == "backend_error"
        assert "fell over" in resp["error"]["message"]
        assert c.get("/health").json()["status"] == "ok"


def test_models_lists_codex_models_array(http, fake):
    body = http.get("/v1/models").json()
    assert [m["id"] for m in body["data"]] == [fake.name] and body["models"] == []


# -- WebSocket mode -------------------------------------------------------------------------------

def test_ws_two_turns_and_an_error_on_one_connection(client, fake):
    with client.responses.connect() as conn:
        conn.response.create(model=fake.name, input="my name is Ada")
        events = []
        for ev in conn:
            events.append(ev)
            if ev.type in ("response.completed", "response.failed", "error"):
                break
        assert events[0].type == "response.created" and events[-1].type == "response.completed"
        first = events[-1].response
        assert first.output_text == "Echo: my name is Ada"

        # an unknown previous_response_id is an error event; the socket stays usable
        conn.response.create(input="recall", previous_response_id="resp_missing")
        err = conn.recv()
        assert err.type == "error" and err.status == 400 and err.error.code == "previous_response_not_found"

        conn.response.create(input=[{"role": "user", "content": "recall my words"}],
                             previous_response_id=first.id)
        for ev in conn:
            if ev.type == "response.completed":
                assert ev.response.output_text == "You said: my name is Ada"
                break
        assert [m["role"] for m in fake.generations[-1].messages] == ["user", "assistant", "user"]


def test_ws_raw_frames_and_bad_messages(base_url):
    with ws_connect(base_url.replace("http", "ws") + "/v1/responses") as ws:
        ws.send("not json")
        assert json.loads(ws.recv())["error"]["code"] == "invalid_json"
        ws.send(json.dumps({"type": "response.bogus"}))
        assert json.loads(ws.recv())["error"]["code"] == "invalid_event"
        ws.send(json.dumps({"type": "response.processed", "response_id": "resp_x"}))  # Codex's ack: ignored
        ws.send(json.dumps({"type": "response.create", "input": "overflow"}))
        err = json.loads(ws.recv())
        assert err["type"] == "error" and err["error"]["code"] == "context_length_exceeded"
        ws.send(json.dumps({"type": "response.create", "input": "fine", "stream": True}))
        kinds = []
        while not kinds or kinds[-1] != "response.completed":
            ev = json.loads(ws.recv())
            assert "sequence_number" in ev
            kinds.append(ev["type"])
        assert kinds[0] == "response.created"


# -- the real 0.5B model --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_client(qwen05):
    from sparkcode.backends.local import LocalBackend

    qwen05.reset()
    with running(create_app(LocalBackend(qwen05), max_tokens_cap=128)) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.mark.model
def test_model_previous_response_id_reuses_the_prefix_cache(model_client):
    r1 = model_client.responses.create(model="qwen2.5-coder-0.5b", instructions="You are a terse assistant.",
                                       input="My favourite number is 417. Reply with OK.", max_output_tokens=16)
    assert r1.status in ("completed", "incomplete") and r1.output_text.strip()
    with model_client.responses.stream(model="qwen2.5-coder-0.5b", previous_response_id=r1.id,
                                       input="What is my favourite number? Answer with the number only.",
                                       max_output_tokens=16) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        r2 = stream.get_final_response()
    assert "".join(deltas) == r2.output_text and "417" in r2.output_text
    assert r2.usage.input_tokens > r1.usage.input_tokens
    assert r2.usage.input_tokens_details.cached_tokens > 0  # the first turn's prompt was still in the KV cache


@pytest.mark.model
def test_model_tool_call_smoke(model_client):
    tool = {**WEATHER_TOOL, "description": "Get the current weather for a city. Always use it for weather questions."}
    r = model_client.responses.create(model="qwen2.5-coder-0.5b", input="What is the weather in Paris right now?",
                                      tools=[tool], max_output_tokens=64)
    calls = [o for o in r.output if o.type == "function_call"]
    if not calls:  # the 0.5B does not always call; the protocol is covered by the scripted tests above
        pytest.skip(f"the 0.5B answered without a tool call: {r.output_text!r}")
    (call,) = calls
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    r2 = model_client.responses.create(model="qwen2.5-coder-0.5b", previous_response_id=r.id, tools=[tool],
                                       input=[{"type": "function_call_output", "call_id": call.call_id,
                                               "output": "sunny, 24 C"}], max_output_tokens=48)
    assert r2.status in ("completed", "incomplete") and r2.output, r2.output


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_in_a_fenced_json_block_is_a_call_when_its_arguments_fit(client, stream):
    """The 1.5B under Codex CLI wrote its call as a ```json block in its text: a call to a declared
    function whose arguments fit its schema becomes a function_call; the text around it stays text;
    a block whose arguments do not fit, or code in a fence, stays text."""
    def respond(text):
        if not stream:
            return client.responses.create(input=text, tools=[WEATHER_TOOL])
        with client.responses.stream(model="default", input=text, tools=[WEATHER_TOOL]) as s:
            list(s)
            return s.get_final_response()

    r = respond("fenced weather in Paris")
    msg, call = r.output
    assert call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert msg.type == "message" and r.output_text.split() == ["I", "will", "look", "it", "up.", "Done."]
    wrong = respond("fenced wrong weather")
    assert [o.type for o in wrong.output] == ["message"] and '"city": 7' in wrong.output_text
    code = respond("code please")
    assert [o.type for o in code.output] == ["message"] and code.output_text.startswith("Here:\n```python")
    c = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "fenced weather"}],
                                       tools=[{"type": "function", "function": WEATHER_TOOL | {"type": None}}],
                                       stream=stream)
    if stream:
        chunks = list(c)
        calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    else:
        calls, text = c.choices[0].message.tool_calls, c.choices[0].message.content
    assert [tc.function.name for tc in calls] == ["get_weather"] and "```" not in text and "Done." in text


def test_arguments_are_checked_against_the_declared_schema():
    from sparkcode.server.tool_extract import bare_tool_calls, fenced_tool_calls, fits_schema

    schema = {"type": "object", "properties": {"cmd": {"type": "array"}, "n": {"type": "integer"}},
              "required": ["cmd"], "additionalProperties": False}
    assert fits_schema({"cmd": ["ls"], "n": 2}, schema)
    assert not fits_schema({"cmd": "ls"}, schema)  # a string where the schema says array
    assert not fits_schema({"n": 2}, schema)  # required missing
    assert not fits_schema({"cmd": [], "x": 1}, schema)  # unknown property, additionalProperties false
    assert not fits_schema({"cmd": [], "n": True}, schema)  # a bool is not an integer
    assert fits_schema({"anything": 1}, {})
    declared = {"shell": schema}
    assert [c.name for c in bare_tool_calls('[{"name": "shell", "arguments": {"cmd": ["ls"]}}]', declared)] == ["shell"]
    assert bare_tool_calls('{"name": "shell", "arguments": "{\\"cmd\\": [\\"ls\\"]}"}', declared)[0].arguments == {"cmd": ["ls"]}
    text, calls = fenced_tool_calls('a\n```\n{"name": "shell", "arguments": {"cmd": ["ls"]}}\n```\nb', declared)
    assert text.split() == ["a", "b"] and calls[0].arguments == {"cmd": ["ls"]}


def _stream_through_holdback(text: str, declared: dict) -> tuple[list[str], tuple]:
    from sparkcode.server.openai_format import ToolCallHoldback

    hold = ToolCallHoldback(True, declared)
    sent = [hold.feed(ch) for ch in text]
    return sent, hold.finish()


def test_code_in_a_fence_streams_as_it_is_written_while_a_json_block_is_held():
    """With tools declared, a ```python block is not held to the end of the reply (it made the
    Responses TTFT seconds late in bench serve): it streams once its info string shows it cannot
    be a call; a ```json block, or a bare one whose body opens with {, is held and parsed."""
    declared = {"get_weather": WEATHER_TOOL["parameters"]}
    code = "Here:\n```python\nprint(1)\n```\nDone, use ``` for code."
    sent, (tail, calls, _) = _stream_through_holdback(code, declared)
    assert not calls and "".join(sent) + tail == code
    upto = code.index("print(1)") + len("print(1)")
    assert "".join(sent[:upto]).endswith("print(1)")  # streamed as written, not at finish
    assert "".join(sent) == code  # all sent before finish, the inline backticks too

    call = 'Python first:\n```\nx = 1\n```\nNow ``` inline, then\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```\nDone.'
    sent, (tail, calls, _) = _stream_through_holdback(call, declared)
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    assert "".join(sent).endswith("then\n") and "x = 1" in "".join(sent) and "Done." in tail
    bare = 'Sure.\n```\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```'
    _, (_, calls, _) = _stream_through_holdback(bare, declared)
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    # without declared functions nothing but a <tool_call> tag holds text
    sent, _ = _stream_through_holdback(call, {})
    assert "".join(sent) == call
