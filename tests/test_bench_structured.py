"""`sparkcode bench structured` with a scripted model: the request each mode sends, and how replies
are judged (parse, then validate against the case's schema)."""

from __future__ import annotations

import json

import jsonschema

from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.bench import structured_bench
from sparkcode.bench.local_server import serving
from sparkcode.bench.structured_cases import CASES
from sparkcode.engine import grammar
from sparkcode.server import create_app


def test_the_fifty_cases_are_varied_and_enforceable():
    assert len(CASES) == 50 and len({json.dumps(s, sort_keys=True) for _, s in CASES}) == 50
    for _, schema in CASES:
        jsonschema.Draft202012Validator.check_schema(schema)
        grammar.json_schema_grammar(schema)  # no case is refused as unsupported


def test_modes_send_the_schema_or_not_and_replies_are_judged_against_it():
    backend = ScriptedBackend(['{"name": "Ada", "age": 36}', 'Sure! {"name": "Ada"}', '{"name": "Ada"}'])
    with serving(create_app(backend, max_tokens_cap=64)) as port:
        good = structured_bench.run_case(port, 0, "schema", "auto", 32)
        prose = structured_bench.run_case(port, 0, "free", "auto", 32)
        partial = structured_bench.run_case(port, 0, "free", "off", 32)
    assert backend.requests[0].constraint is not None and backend.requests[0].constraint.kind == "json_schema"
    assert backend.requests[1].constraint is None and backend.requests[2].speculate == "off"
    assert (good.parsed, good.valid) == (True, True)
    assert (prose.parsed, prose.valid) == (False, False) and "not JSON" in prose.error
    assert (partial.parsed, partial.valid) == (True, False) and "'age' is a required property" in partial.error
