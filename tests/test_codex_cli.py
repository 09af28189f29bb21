"""Codex CLI end to end: `codex exec` talks to `sparkcode serve`'s Responses API with the 0.5B.

Codex is installed with npm into the sparkcode cache (``$SPARKCODE_HOME/clients/codex``, outside
the clone) on first use and reused afterwards; the test is skipped only when npm or its registry
cannot be reached. Codex's own prompt is about 6k tokens, so on a CPU this takes minutes.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.client_installs import npm_install
    from tests.test_server_support import served, serving_model
except ImportError:
    from client_installs import npm_install
    from test_server_support import served, serving_model

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
CODEX = "@openai/codex@0.171.0"  # pinned: the version this test was written against


def codex_binary() -> str:
    """The cached codex (client_installs: npm, once per machine)."""
    root = npm_install("codex", CODEX, "node_modules/.bin/codex", timeout=600)
    return str(root / "node_modules" / ".bin" / "codex")


CONFIG = """\
model = "{model}"
model_provider = "sparkcode"

[model_providers.sparkcode]
name = "sparkcode"
base_url = "{base_url}/v1"
wire_api = "responses"
supports_websockets = {websockets}
"""


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_codex_exec_against_the_responses_api(qwen05_path, tmp_path, transport):
    """Over HTTP (SSE), and over the Responses API's WebSocket mode (`supports_websockets = true`:
    Codex opens GET /v1/responses as a WebSocket and sends `response.create` messages; it would
    fall back to HTTP if the handshake failed, so the test checks which one the server saw)."""
    codex = codex_binary()
    with serving_model(MODEL, n_ctx=16384) as (url, app):  # Codex's instructions and tools: ~6k tokens
        home, work = tmp_path / "codex-home", tmp_path / "work"
        home.mkdir()
        work.mkdir()
        ws = transport == "websocket"
        (home / "config.toml").write_text(CONFIG.format(model=MODEL, base_url=url, websockets=str(ws).lower()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["CODEX_HOME"] = str(home)
        t0 = time.monotonic()
        r = subprocess.run([codex, "exec", "--strict-config", "--skip-git-repo-check", "--sandbox",
                            "workspace-write", "Reply with the single word: hello"],
                           cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=540)
        print(f"codex exec took {time.monotonic() - t0:.1f}s; stdout: {r.stdout.strip()[-200:]!r}")
        assert r.returncode == 0, f"codex exec failed ({r.returncode}):\n{r.stderr[-3000:]}"
        assert r.stdout.strip(), r.stderr[-3000:]
        # a /v1/responses generation finished, was stored for previous_response_id, over the transport asked for
        assert len(app.state.ctx.responses) >= 1, r.stderr[-3000:]
        if ws:
            assert served(url, "/v1/responses", 101) >= 1 and served(url, "/v1/responses") == 0, r.stderr[-3000:]
        else:
            assert served(url, "/v1/responses") >= 1 and served(url, "/v1/responses", 101) == 0, r.stderr[-3000:]
