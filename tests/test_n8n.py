"""n8n end to end: workflows with the OpenAI Chat Model node run against `sparkcode serve` (0.5B).

n8n (npm ``n8n@2.41.1``) needs Node >= 24; both are installed into the sparkcode cache on first
use (client_installs.py; n8n takes ~3 min and 2.9 GB once per machine). The workflows are what a
user builds in the editor, exported: Manual Trigger -> Basic LLM Chain, whose model is the OpenAI
Chat Model node (1.3) with an OpenAI credential whose base URL is our server — once with the
node's *Use Responses API* switch on (its default: /v1/responses), once off (Chat Completions),
and once with a Structured Output Parser on the chain. `n8n import:credentials`,
`n8n import:workflow` and `n8n execute --id` run them in a user folder of the test's own. The
test asserts what reached n8n — the chain's output, the parser's parsed object — and that our
server answered each API, not how clever the small model is.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.client_installs import n8n, node24
    from tests.test_server_support import served, serving_model
except ImportError:
    from client_installs import n8n, node24
    from test_server_support import served, serving_model

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
CREDENTIAL = {"id": "sparkcodeCred01", "name": "sparkcode"}


def workflow(wid: str, responses_api: bool, parser: bool = False) -> dict:
    """Manual Trigger -> Basic LLM Chain <- OpenAI Chat Model (and a Structured Output Parser)."""
    chain = {"id": f"{wid}-chain", "name": "Basic LLM Chain", "type": "@n8n/n8n-nodes-langchain.chainLlm",
             "typeVersion": 1.7, "position": [220, 0],
             "parameters": {"promptType": "define", "hasOutputParser": parser,
                            # (the parser appends a JSON Schema to the prompt, which the greedy 0.5B copies
                            # back; an example of the answer's shape, as users of small models give, avoids that)
                            "text": ('What is the capital of France? Reply with only this JSON, filled in: '
                                     '{"output": {"city": "<the city>"}}' if parser
                                     else "Reply with the single word: hello")}}
    model = {"id": f"{wid}-model", "name": "OpenAI Chat Model", "type": "@n8n/n8n-nodes-langchain.lmChatOpenAi",
             "typeVersion": 1.3, "position": [220, 200], "credentials": {"openAiApi": CREDENTIAL},
             "parameters": {"model": {"__rl": True, "mode": "id", "value": MODEL},
                            "responsesApiEnabled": responses_api,
                            # with a parser, the node's Response Format: JSON (response_format json_object, which
                            # the server enforces with a grammar), as a user of a small model sets it
                            "options": {"maxTokens": 128, "temperature": 0,
                                        **({"responseFormat": "json_object"} if parser else {})}}}
    nodes = [{"id": f"{wid}-trigger", "name": "When clicking Execute", "type": "n8n-nodes-base.manualTrigger",
              "typeVersion": 1, "position": [0, 0], "parameters": {}}, chain, model]
    connections = {"When clicking Execute": {"main": [[{"node": "Basic LLM Chain", "type": "main", "index": 0}]]},
                   "OpenAI Chat Model": {"ai_languageModel": [[{"node": "Basic LLM Chain", "type": "ai_languageModel",
                                                                "index": 0}]]}}
    if parser:
        nodes.append({"id": f"{wid}-parser", "name": "Structured Output Parser",
                      "type": "@n8n/n8n-nodes-langchain.outputParserStructured", "typeVersion": 1.3,
                      "position": [420, 200],
                      "parameters": {"schemaType": "manual", "inputSchema": json.dumps(
                          {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})}})
        connections["Structured Output Parser"] = {
            "ai_outputParser": [[{"node": "Basic LLM Chain", "type": "ai_outputParser", "index": 0}]]}
    return {"id": wid, "name": wid, "active": False, "nodes": nodes, "connections": connections,
            "settings": {"executionOrder": "v1"}}


def _items(r: subprocess.CompletedProcess) -> list[dict]:
    """The chain's output items from `n8n execute --rawOutput` (one JSON document; n8n exits 0 and
    prints only its log when the workflow failed, and may log a line after the document: seen,
    'Registered runner "JS Task Runner"' with runners disabled)."""
    assert "{" in r.stdout, f"the workflow did not run:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    data, _ = json.JSONDecoder().raw_decode(r.stdout, r.stdout.index("{"))
    run = data["data"]["resultData"]["runData"]["Basic LLM Chain"][-1]
    assert not run.get("error"), run.get("error")
    return [i["json"] for i in run["data"]["main"][0]]


def test_n8n_workflows_over_the_responses_api_chat_completions_and_a_structured_parser(qwen05_path, tmp_path):
    node = node24()
    exe = n8n(node)
    with serving_model(MODEL, n_ctx=8192) as (url, _):
        folder = tmp_path / "n8n-user"
        folder.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "N8N_"))}
        env.update(PATH=f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}", N8N_USER_FOLDER=str(folder),
                   N8N_DIAGNOSTICS_ENABLED="false", N8N_RUNNERS_ENABLED="false", N8N_ENCRYPTION_KEY="sparkcode-test",
                   N8N_VERSION_NOTIFICATIONS_ENABLED="false", N8N_LOG_LEVEL="info")

        def n8n_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
            r = subprocess.run([str(exe), *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
            assert r.returncode == 0, f"n8n {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            return r

        cred = tmp_path / "credentials.json"
        cred.write_text(json.dumps([{**CREDENTIAL, "type": "openAiApi",
                                     "data": {"apiKey": "sk-local", "url": f"{url}/v1"}}]))
        flows = tmp_path / "workflows.json"
        flows.write_text(json.dumps([workflow("sparkcodeResp01", True), workflow("sparkcodeChat01", False),
                                     workflow("sparkcodeJson01", False, parser=True)]))
        t0 = time.monotonic()
        n8n_cli("import:credentials", f"--input={cred}")
        n8n_cli("import:workflow", f"--input={flows}")

        before = served(url, "/v1/responses")
        on = _items(n8n_cli("execute", "--id=sparkcodeResp01", "--rawOutput"))
        assert on and isinstance(on[0].get("text"), str) and on[0]["text"].strip(), on
        assert served(url, "/v1/responses") > before  # the switch's default really used our Responses API

        before = served(url, "/v1/chat/completions")
        off = _items(n8n_cli("execute", "--id=sparkcodeChat01", "--rawOutput"))
        assert off and isinstance(off[0].get("text"), str) and off[0]["text"].strip(), off
        assert served(url, "/v1/chat/completions") > before

        parsed = _items(n8n_cli("execute", "--id=sparkcodeJson01", "--rawOutput"))
        out = parsed[0].get("output")
        assert isinstance(out, dict) and isinstance(out.get("city"), str), parsed
        print(f"n8n: three workflows in {time.monotonic() - t0:.1f}s; responses {on[0]['text'][:60]!r}, "
              f"chat {off[0]['text'][:60]!r}, parsed {out!r}")
