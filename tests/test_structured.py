"""Structured outputs and forced tool calls: JSON schema -> GBNF, the request fields, and
grammar-constrained decoding with the 0.5B (plain and speculative) through the official client.

The first part loads no model. The `model` tests run one server on the shared 0.5B engine.
"""

from __future__ import annotations

import json

import jsonschema
import llama_cpp
import openai
import pytest

from sparkcode.backends.base import ChatRequest, Constraint
from sparkcode.backends.openai_http import OpenAIBackend
from sparkcode.bench.structured_cases import CASES as ALL_CASES
from sparkcode.bench.structured_cases import S20, SYSTEM, TESTED, obj
from sparkcode.engine import grammar as g
from sparkcode.server import create_app
from sparkcode.server.errors import ApiError
from sparkcode.server.responses import ResponsesRequest
from sparkcode.server.schemas import ChatCompletionRequest

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, running
except ImportError:
    from test_server_support import FakeBackend, running

MODEL = "qwen2.5-coder-0.5b"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
CLOCK = {"type": "function", "function": {
    "name": "get_time", "description": "Current local time in a time zone",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string", "maxLength": 40}},
                   "required": ["zone"]}}}


# -- JSON schema -> GBNF (no model) ---------------------------------------------------------------

@pytest.mark.parametrize("schema, feature", [
    ({"type": "integer", "minimum": 0}, "minimum"),
    ({"type": "number", "exclusiveMaximum": 3}, "exclusiveMaximum"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "oneOf"),
    ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}, "not"),
    ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
    ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
    ({"type": "string", "format": "email"}, "format 'email'"),
    ({"type": "string", "pattern": "^[^,]+$"}, "negated class"),
    ({"type": "string", "pattern": "^(?=a)b$"}, "lookarounds"),
    ({"type": "string", "pattern": "^\\s+$"}, "escape \\s"),
    ({"$ref": "https://example.com/s.json"}, "$ref"),
    ({"type": "object", "properties": {}, "required": ["x"]}, "required property 'x'"),
    ({"type": "string", "pattern": "^a+$", "maxLength": 3}, "pattern together with maxLength"),
    ({"type": "array", "items": {}, "maxItems": 100000}, "maxItems 100000"),
    ({"allOf": [{"type": "object"}, {"required": ["a"]}]}, "allOf"),
    ({"type": "thing"}, "type 'thing'"),
])
def test_unsupported_schema_features_are_named(schema, feature):
    with pytest.raises(g.SchemaUnsupported) as e:
        g.json_schema_grammar({"type": "object", "properties": {"v": schema}, "required": ["v"]})
    assert feature in str(e.value) and "#/properties/v" in str(e.value)


def test_schema_grammar_shapes():
    gbnf = g.json_schema_grammar({
        "type": "object", "title": "ignored", "description": "ignored",
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20},
                       "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 3},
                       "maybe": {"type": ["integer", "null"]}, "when": {"type": "string", "format": "date"}},
        "required": ["name", "tags"]})
    rules = dict(line.split(" ::= ", 1) for line in gbnf.splitlines())
    assert rules["name"] == '"\\"" char{1,20} "\\"" space'  # native repetition, not 20 nested groups
    assert rules["tags"] == '"[" space tags-item ("," space tags-item){0,2} "]" space'
    assert "\\x00-\\x1F" in rules["char"]  # no raw control characters inside JSON strings
    assert rules["root"].startswith('"{" space name-kv "," space tags-kv')


@pytest.mark.parametrize("pattern, rewritten", [
    ("^[A-Z]{3}-\\d{2}$", "^[A-Z]{3}-[0-9]{2}$"),
    ("^v\\.[0-9]+$", "^v[\\x2E][0-9]+$"),
    ("^(?:ab|cd)$", "^(ab|cd)$"),
    ("[a-z]+", "^.*([a-z]+).*$"),
    ("^[\\w-]+$", "^[a-zA-Z0-9_-]+$"),
])
def test_patterns_are_rewritten_for_the_converter(pattern, rewritten):
    assert g._pattern(pattern, "#") == rewritten


def test_tool_call_grammar_keeps_each_tools_rules_apart():
    gbnf = g.tool_call_grammar([("a", {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}),
                                ("b", {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}),
                                ("c", None)])
    names = [line.split(" ::= ")[0] for line in gbnf.strip().splitlines()]
    assert len(names) == len(set(names)) and names[0] == "root"
    assert {"t0-x-kv", "t1-x-kv", "call0", "call1", "call2"} <= set(names)
    assert gbnf.splitlines()[0] == 'root ::= "<tool_call>\\n{\\"name\\": " ( call0 | call1 | call2 ) "}\\n</tool_call>"'
    with pytest.raises(g.SchemaUnsupported, match="tool 'bad'"):
        g.tool_call_grammar([("bad", {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}})])


def _parses(gbnf: str) -> bool:
    """llama.cpp's own GBNF parser accepts it (a grammar sampler without a vocabulary parses only)."""
    llama_cpp.llama_backend_init()
    ptr = llama_cpp.llama_sampler_init_grammar(None, gbnf.encode(), b"root")
    if ptr:
        llama_cpp.llama_sampler_free(ptr)
    return bool(ptr)


def test_every_grammar_parses_in_llama_cpp():
    assert not _parses("root ::= undefined-rule")
    assert _parses(g.json_object_grammar())
    for _, schema in CASES:
        assert _parses(g.json_schema_grammar(schema)), schema
    assert _parses(g.tool_call_grammar([(t["function"]["name"], t["function"]["parameters"]) for t in (WEATHER, CLOCK)]))
    for pattern in ("^[A-Z]{3}-\\d{2}$", "^v\\.[0-9]+$", "^(?:ab|cd)$", "[a-z]+", "^[\\w-]+$", "^[\\]a]+$",
                    "^a{2,}b?$", "^.{3}$"):
        assert _parses(g.json_schema_grammar({"type": "string", "pattern": pattern})), pattern


# -- request fields -> Constraint (no model) ------------------------------------------------------

def _chat(**kw) -> ChatRequest:
    body = {"messages": [{"role": "user", "content": "hi"}], **kw}
    return ChatCompletionRequest.model_validate(body).to_chat_request(256)


def test_request_fields_become_constraints():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert _chat().constraint is None
    assert _chat(response_format={"type": "text"}).constraint is None
    assert _chat(response_format={"type": "json_object"}).constraint.kind == "json_object"
    c = _chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
    assert c.constraint.kind == "json_schema" and c.constraint.response_format["json_schema"]["schema"] == schema
    c = _chat(tools=[WEATHER, CLOCK], tool_choice="required", response_format={"type": "json_object"})
    assert c.constraint.kind == "tool_call" and c.constraint.tool_choice == "required"  # the call wins
    assert "get_time" in c.constraint.grammar
    c = _chat(tools=[WEATHER, CLOCK], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert '\\"get_time\\"' in c.constraint.grammar and '\\"get_weather\\"' not in c.constraint.grammar
    assert _chat(tools=[WEATHER], tool_choice="auto").constraint is None
    assert _chat(tools=[WEATHER], tool_choice="none").constraint is None

    r = ResponsesRequest.model_validate({"input": "hi", "text": {"format": {
        "type": "json_schema", "name": "x", "schema": schema, "strict": True}}})
    chat, _, _ = r.to_chat_request(256, [])
    assert chat.constraint.kind == "json_schema"
    assert chat.constraint.response_format == {"type": "json_schema", "json_schema": {
        "name": "x", "schema": schema, "strict": True}}  # chat shape, for a remote backend
    r = ResponsesRequest.model_validate({"input": "hi", "tool_choice": {"type": "function", "name": "get_weather"},
                                         "tools": [{"type": "function", **WEATHER["function"]}]})
    assert r.to_chat_request(256, [])[0].constraint.kind == "tool_call"


@pytest.mark.parametrize("kw, param", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "integer", "maximum": 1}}}},
     "response_format.json_schema.schema"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
])
def test_bad_structured_requests_are_400s(kw, param):
    with pytest.raises(ApiError) as e:
        _chat(**kw)
    assert e.value.status == 400 and e.value.param == param


def test_remote_backend_forwards_the_openai_fields():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m")
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    p = backend._payload(ChatRequest([{"role": "user", "content": "hi"}], tools=[WEATHER],
                                     constraint=Constraint("root ::= \"x\"", "tool_call", response_format=fmt,
                                                           tool_choice="required")))
    assert p["response_format"] == fmt and p["tool_choice"] == "required"
    backend.close()


def test_unsupported_schema_is_a_400_through_the_server():
    with running(create_app(FakeBackend(), max_tokens_cap=64)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=10)
        bad = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]}
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="fake-coder", messages=[{"role": "user", "content": "hi"}],
                                           response_format={"type": "json_schema",
                                                            "json_schema": {"name": "n", "schema": bad}})
        err = e.value.body
        assert e.value.status_code == 400 and err["code"] == "unsupported_schema"
        assert "minimum" in err["message"] and "#/properties/n" in err["message"]
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model="fake-coder", input="hi",
                                    text={"format": {"type": "json_schema", "name": "n", "schema": bad}})
        assert e.value.body["code"] == "unsupported_schema" and e.value.body["param"] == "text.format.schema"


# -- with the 0.5B ---------------------------------------------------------------------------------

CASES = ALL_CASES[:TESTED]  # varied shapes, short answers (the bench runs all fifty)


@pytest.fixture(scope="module")
def model_client(qwen05):
    from sparkcode.backends.local import LocalBackend

    qwen05.reset()
    with running(create_app(LocalBackend(qwen05), max_tokens_cap=256)) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)


def _loads_valid(text: str, schema: dict):
    value = json.loads(text)
    jsonschema.validate(value, schema)
    return value


@pytest.mark.model
def test_json_schema_outputs_validate_with_and_without_speculation(model_client):
    """Every case through chat (speculation off) and Responses (prompt-lookup speculation): both
    validate, and, greedy, both are the same text (speculation under a grammar is lossless)."""
    same = 0
    for i, (ask, schema) in enumerate(CASES):
        chat = model_client.chat.completions.create(
            model=MODEL, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}],
            max_tokens=96, response_format={"type": "json_schema", "json_schema": {"name": f"case{i}", "schema": schema,
                                                                                   "strict": True}},
            extra_body={"speculate": "off"})
        text = chat.choices[0].message.content
        assert chat.choices[0].finish_reason == "stop", (ask, text)
        _loads_valid(text, schema)
        resp = model_client.responses.create(
            model=MODEL, instructions=SYSTEM, input=ask, max_output_tokens=96,
            text={"format": {"type": "json_schema", "name": f"case{i}", "schema": schema, "strict": True}},
            extra_body={"speculate": "ngram"})
        assert resp.status == "completed", (ask, resp.output_text)
        _loads_valid(resp.output_text, schema)
        same += resp.output_text == text
    assert same >= len(CASES) - 1  # greedy speculation may differ at a near-tie (see test_speculative)


@pytest.mark.model
def test_json_object_streamed_with_auto_speculation(model_client):
    stream = model_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Describe a cat (name, age) as JSON."}], max_tokens=64,
        response_format={"type": "json_object"}, stream=True, extra_body={"speculate": "auto"})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert isinstance(json.loads(text), dict)


@pytest.mark.model
def test_forced_tool_calls_validate(model_client):
    messages = [{"role": "user", "content": "What is the weather like in Paris today?"}]
    r = model_client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, CLOCK],
                                             tool_choice="required", max_tokens=64)
    (call,) = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    schema = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, CLOCK)}[call.function.name]
    jsonschema.validate(json.loads(call.function.arguments), schema)

    # a named function the question does not call for is still the one called, with valid arguments
    r = model_client.responses.create(model=MODEL, input=messages[0]["content"], max_output_tokens=64,
                                      tools=[{"type": "function", **t["function"]} for t in (WEATHER, CLOCK)],
                                      tool_choice={"type": "function", "name": "get_time"})
    (call,) = [o for o in r.output if o.type == "function_call"]
    assert call.name == "get_time"
    jsonschema.validate(json.loads(call.arguments), CLOCK["function"]["parameters"])


@pytest.mark.model
def test_constrained_sampling_does_not_speculate(qwen05):
    from sparkcode.engine.sampling import SamplingParams

    done = qwen05.generate([{"role": "user", "content": "A JSON object with a name and a colour."}], max_tokens=64,
                           sampling=SamplingParams(temperature=0.9, seed=3), speculate="ngram",
                           grammar=g.json_object_grammar())
    assert done.stats.speculate == "off" and done.stats.drafted == 0
    assert done.finish_reason == "stop" and isinstance(json.loads(done.text), dict)


@pytest.mark.model
def test_grammar_state_takes_valid_text_and_refuses_invalid(qwen05):
    """Feed tokenised JSON through the grammar sampler: valid text is allowed token by token and
    may end (EOS allowed); a wrong value is refused at its first token."""
    schema = obj({"name": S20, "n": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["x", "y"]}}})
    model = qwen05.model

    def run(text: str) -> tuple[bool, bool]:
        c = g.GrammarConstraint(model, g.json_schema_grammar(schema))
        try:
            for tok in model.tokenize(text, parse_special=False):
                if not c.allows(tok):
                    return False, False
                c.accept(tok)
            return True, c.allows(model.eos)
        finally:
            c.close()

    assert run('{"name": "Ada", "n": 3, "tags": ["x", "y"]}') == (True, True)
    assert run('{"name": "Ada", "n": 3, "tags": []}') == (True, True)
    assert run('{"name": "Ada", "n": 3') == (True, False)  # incomplete: no end of generation yet
    assert run('{"name": "Ada", "n": "3", "tags": []}')[0] is False
    assert run('{"name": "Ada", "n": 3, "tags": ["z"]}')[0] is False


@pytest.mark.model
def test_greedy_speculation_under_a_grammar_is_lossless(qwen05, monkeypatch):
    """Prompt lookup drafts plenty here (the answer copies the prompt); the constrained output is the
    plain constrained output, and the grammar took exactly the output's tokens, in order (rejected
    guesses never entered it)."""
    accepted: list[int] = []
    real_accept = g.GrammarConstraint.accept

    def accept(self, token):
        accepted.append(int(token))
        real_accept(self, token)

    monkeypatch.setattr(g.GrammarConstraint, "accept", accept)
    data = {"id": 7, "name": "parse_config", "tags": ["io", "config", "parsing"], "lines": [3, 9, 27],
            "owner": {"name": "Ada Lovelace", "team": "tools"}}
    prompt = [{"role": "user", "content": "Return this JSON object unchanged, on one line:\n" + json.dumps(data)}]
    kw = {"max_tokens": 96, "grammar": g.json_object_grammar()}
    plain = qwen05.generate(prompt, speculate="off", **kw)
    accepted.clear()
    spec = qwen05.generate(prompt, speculate="ngram", **kw)
    assert spec.stats.drafted > 0 and spec.stats.accepted > 0
    assert spec.tokens == plain.tokens and spec.text == plain.text
    # (guesses verified after the end-of-generation token may follow; the caller stops there)
    assert accepted[:len(spec.tokens)] == spec.tokens
    assert json.loads(spec.text) == data
    assert llama_cpp.llama_memory_seq_pos_max(qwen05.ctx.mem, 0) + 1 == len(qwen05.cached)
