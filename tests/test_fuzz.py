"""The API fuzzed: Schemathesis (PyPI) against the server's own OpenAPI schema, every endpoint.

The server runs in-process on loopback with the scripted backend (the fuzzing is about request
handling, not the model). Schemathesis generates requests from the schema — valid ones, edge
cases of each field, and invalid ones — through its coverage, fuzzing and stateful phases, and
fails on any 5xx; afterwards the server must still answer /health. The number of cases tried is
printed (and recorded in docs/BENCHMARKS.md's server notes when it changes much).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from sparkcode.server import create_app
try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, running
except ImportError:
    from test_server_support import FakeBackend, running


def test_no_request_the_schema_allows_or_forbids_makes_the_server_fail(tmp_path):
    pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[test]')")
    st = [sys.executable, "-m", "schemathesis.cli"]  # this interpreter's, not whatever `st` is on PATH
    app = create_app(FakeBackend(), max_tokens_cap=64)
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(app.openapi()))
    assert {"/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/models"} <= set(app.openapi()["paths"])
    with running(app) as url:
        t0 = time.monotonic()
        r = subprocess.run([*st, "run", str(schema), "--url", url, "--checks", "not_a_server_error",
                            "--max-examples", "30", "--request-timeout", "20", "--generation-deterministic",
                            "--no-color"], capture_output=True, text=True, timeout=600,
                           cwd=tmp_path)  # its .schemathesis/ cache goes there, not into the checkout
        tried = re.search(r"(\d+) generated, (\d+) passed", r.stdout)
        print(f"schemathesis: {tried.group(0) if tried else '?'} in {time.monotonic() - t0:.1f}s")
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        assert tried and int(tried.group(1)) >= 300 and tried.group(1) == tried.group(2), r.stdout[-2000:]
        health = json.loads(urllib.request.urlopen(f"{url}/health", timeout=10).read())
        assert health["status"] == "ok" and health["in_flight"] == 0 and health["queue_depth"] == 0, health
