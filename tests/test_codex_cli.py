"""Codex CLI end to end: `codex exec` talks to `sparkcode serve`'s Responses API with the 0.5B.

Codex is installed with npm into the sparkcode cache (``$SPARKCODE_HOME/clients/codex``, outside
the clone) on first use and reused afterwards; the test is skipped only when npm or its registry
cannot be reached. Codex's own prompt is about 6k tokens, so on a CPU this takes minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request

import pytest

from sparkcode.server import create_app
try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.client_installs import npm_install
    from tests.test_server_support import running
except ImportError:
    from client_installs import npm_install
    from test_server_support import running

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


def _served(url: str, status: int) -> int:
    """How many /v1/responses requests the server answered with `status` (101: a WebSocket opened)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    m = re.search(rf'sparkcode_requests_total\{{endpoint="/v1/responses",status="{status}"\}} (\d+)', text)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_codex_exec_against_the_responses_api(qwen05_path, tmp_path, transport):
    """Over HTTP (SSE), and over the Responses API's WebSocket mode (`supports_websockets = true`:
    Codex opens GET /v1/responses as a WebSocket and sends `response.create` messages; it would
    fall back to HTTP if the handshake failed, so the test checks which one the server saw)."""
    from sparkcode.backends.local import LocalBackend
    from sparkcode.engine.core import Engine

    codex = codex_binary()
    engine = Engine(MODEL, n_ctx=16384, show_progress=False)  # Codex's instructions and tools: ~6k tokens
    try:
        app = create_app(LocalBackend(engine), max_tokens_cap=256)
        with running(app) as url:
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
            # a /v1/responses generation finished and was stored for previous_response_id
            assert len(app.state.ctx.responses) >= 1, r.stderr[-3000:]
            assert r.stdout.strip(), r.stderr[-3000:]
            if ws:
                assert _served(url, 101) >= 1 and _served(url, 200) == 0, r.stderr[-3000:]
            else:
                assert _served(url, 200) >= 1 and _served(url, 101) == 0, r.stderr[-3000:]
    finally:
        engine.close()
