"""OpenClaw end to end: `openclaw agent --local` talks to `sparkcode serve` with the 0.5B.

OpenClaw (npm ``openclaw``) needs Node >= 24; both are installed into the sparkcode cache on
first use (client_installs.py). Its provider is configured the way docs/CLIENTS.md shows
(``api: "openai-completions"``), in a state folder of the test's own. OpenClaw's first request
is a ~12,000-token prompt (its instructions and tool catalogue), so the server runs with a 32k
context; the prefill takes minutes on 2 cores the first time and comes from the disk prompt
cache after that. The test asserts that the exchange completed — a turn answered by our server,
its usage reported — not what the small model said.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.client_installs import node24, npm_install
    from tests.test_server_support import serving_model
except ImportError:
    from client_installs import node24, npm_install
    from test_server_support import serving_model

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
OPENCLAW = "openclaw@2026.9.6"  # pinned: the version this test was written against
CTX = 32768


def openclaw_config(base_url: str, workspace: str) -> dict:
    """The provider config docs/CLIENTS.md shows, pointed at `base_url`."""
    return {
        "models": {"mode": "merge", "providers": {"sparkcode": {
            "baseUrl": f"{base_url}/v1", "apiKey": "sparkcode-local", "api": "openai-completions",
            "models": [{"id": MODEL, "name": "Qwen2.5-Coder 0.5B (sparkcode)", "reasoning": False,
                        "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                        "contextWindow": CTX, "maxTokens": 256}]}}},
        "agents": {"defaults": {"model": {"primary": f"sparkcode/{MODEL}"}, "workspace": workspace}},
    }


def test_openclaw_agent_turn_against_chat_completions(qwen05_path, tmp_path):
    node = node24()
    root = npm_install("openclaw", OPENCLAW, "node_modules/openclaw/openclaw.mjs", node_bin=node)
    with serving_model(MODEL, n_ctx=CTX) as (url, _):
        state, work = tmp_path / "openclaw-state", tmp_path / "work"
        state.mkdir()
        work.mkdir()
        config = state / "openclaw.json"
        config.write_text(json.dumps(openclaw_config(url, str(work)), indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OPENCLAW_"))}
        env.update(OPENCLAW_STATE_DIR=str(state), OPENCLAW_CONFIG_PATH=str(config), HOME=str(tmp_path))
        t0 = time.monotonic()
        r = subprocess.run([str(node), str(root / "node_modules" / "openclaw" / "openclaw.mjs"), "agent", "--local",
                            "--message", "Reply with the single word: hello", "--json"],
                           cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=840)
        print(f"openclaw agent took {time.monotonic() - t0:.1f}s; stdout: {r.stdout.strip()[:300]!r}")
        assert r.returncode == 0, f"openclaw agent failed ({r.returncode}):\n{r.stderr[-3000:]}"
        out = json.loads(r.stdout[r.stdout.index("{"):])
        meta = out["meta"]["agentMeta"]
        assert meta["provider"] == "sparkcode" and meta["model"] == MODEL, meta
        assert meta["usage"]["input"] > 5000 and meta["usage"]["output"] >= 1, meta["usage"]
        assert not out["meta"].get("aborted"), out["meta"]
        assert out["payloads"] and isinstance(out["payloads"][0]["text"], str), out["payloads"]
