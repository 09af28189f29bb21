"""`sparkcode bench serve`: what the server adds on top of the engine, per turn of a conversation.

The server runs in this process (uvicorn on 127.0.0.1, a free port) with a real local model.
One multi-turn coding conversation (greedy, a fixed reply budget) is held three ways:

- ``http-fresh``: POST /v1/chat/completions (streamed), the client re-sends the whole history
  every turn on a new TCP connection (``Connection: close``): what a naive client does;
- ``http-keepalive``: the same requests over one persistent connection;
- ``websocket``: a /v1/sessions/ws chat session; the client sends only the new message and
  the server keeps the history;
- ``responses-full``: POST /v1/responses (streamed) on one connection, the whole conversation
  as input items every turn, with a tool list (three functions) as agent clients send;
- ``responses-previous``: the same, but only the new message after the last response's
  ``previous_response_id`` (the server keeps the conversation);
- ``responses-websocket``: ``response.create`` messages on one WebSocket at GET /v1/responses,
  with ``previous_response_id``: Codex's WebSocket mode.

For turn n the client clock starts before it opens anything it needs (connection, socket,
session start) and stops at the first streamed text (client TTFT) and at the end of the reply
(turn wall). The engine's own TTFT (prompt rendering + prefill + first token, from the
response's stats) is subtracted: overhead = client TTFT - engine TTFT, i.e. connection setup,
request parsing and validation, queueing hand-off, framing and client parsing. The engine's
prefix cache is cleared before each conversation, so every mode starts cold and reuses the
prefix on later turns the same way. The client uses only the standard library's http.client
for HTTP (and the websockets package for sessions) so little client-library time is counted.
Modes are interleaved, in a rotated order, within each repetition; figures are medians.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .local_server import serving, wait_idle
from .report import append_section, bar_chart, machine, markdown_table, median

CHAT_MODES = ("http-fresh", "http-keepalive", "websocket")
# the Responses API as Codex uses it: the whole history every turn, only the new input after a
# previous_response_id, or response.create on one WebSocket (also with previous_response_id)
RESPONSES_MODES = ("responses-full", "responses-previous", "responses-websocket")
MODES = CHAT_MODES + RESPONSES_MODES
# a tool list sent with every Responses request, as agent clients do (the model is not asked to use it)
TOOLS = [{"type": "function", "name": name, "description": desc, "parameters": {
    "type": "object", "properties": {k: {"type": "string", "description": k} for k in props}, "required": props}}
    for name, desc, props in (("shell", "Run a shell command in the workspace and return its output.", ["command"]),
                              ("read_file", "Read a text file of the workspace.", ["path"]),
                              ("apply_patch", "Apply a patch to files of the workspace.", ["patch"]))]
SYSTEM = "You are a concise coding assistant. Answer with short code and at most one sentence."
TURNS = (
    "Write a Python function slugify(title) that lowercases a title and joins its words with hyphens.",
    "Add type hints and a docstring to it.",
    "Now make it drop punctuation and collapse repeated hyphens.",
    "Write three pytest tests for slugify.",
    "Make it also strip accents using unicodedata.",
    "Add a max_length parameter that cuts at a word boundary.",
    "Write a short README section showing how to use it.",
    "Summarise the final function's behaviour in one sentence.",
    "Rename it to make_slug and show the new signature.",
    "What would make_slug('Hello, World!') return?",
)


@dataclass
class TurnResult:
    client_ttft_s: float
    engine_ttft_s: float
    wall_s: float
    prompt_tokens: int
    cached_tokens: int
    sent_bytes: int

    @property
    def overhead_s(self) -> float:
        return self.client_ttft_s - self.engine_ttft_s


@dataclass
class Results:
    turns: int
    data: dict[str, list[list[TurnResult]]] = field(default_factory=dict)  # mode -> turn index -> runs

    def add(self, mode: str, turn: int, r: TurnResult) -> None:
        self.data.setdefault(mode, [[] for _ in range(self.turns)])[turn].append(r)

    def med(self, mode: str, turn: int, attr: str) -> float:
        return median(getattr(r, attr) for r in self.data[mode][turn])


# ---------------------------------------------------------------------------- server

# ---------------------------------------------------------------------------- clients

class _HttpChat:
    """A streaming chat client on http.client; `fresh` opens a new connection per request."""

    def __init__(self, port: int, fresh: bool, max_tokens: int):
        self.port, self.fresh, self.max_tokens = port, fresh, max_tokens
        self.conn: http.client.HTTPConnection | None = None
        self.history = [{"role": "system", "content": SYSTEM}]

    def turn(self, message: str) -> TurnResult:
        self.history.append({"role": "user", "content": message})
        t0 = time.perf_counter()
        body = json.dumps({"messages": self.history, "max_tokens": self.max_tokens, "temperature": 0,
                           "stream": True}).encode()
        if self.conn is None or self.fresh:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"Content-Type": "application/json"}
        if self.fresh:
            headers["Connection"] = "close"
        self.conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
        first = None
        text: list[str] = []
        stats = None
        while True:
            line = resp.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            if chunk.get("sparkcode"):
                stats = chunk["sparkcode"]
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    if first is None:
                        first = time.perf_counter()
                    text.append(piece)
        resp.read()
        end = time.perf_counter()
        if self.fresh:
            self.conn.close()
            self.conn = None
        if stats is None:
            raise RuntimeError("the stream ended without the sparkcode stats chunk")
        self.history.append({"role": "assistant", "content": "".join(text)})
        return TurnResult((first or end) - t0, stats["ttft_s"], end - t0, stats["prompt_tokens"],
                          stats["cached_tokens"], len(body))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class _WsChat:
    """A /v1/sessions/ws chat session; the socket and the session start count toward turn 1."""

    def __init__(self, port: int, max_tokens: int):
        self.port, self.max_tokens = port, max_tokens
        self.ws = None
        self._stack = contextlib.ExitStack()

    def turn(self, message: str) -> TurnResult:
        from websockets.sync.client import connect

        t0 = time.perf_counter()
        sent = 0
        if self.ws is None:
            self.ws = self._stack.enter_context(
                connect(f"ws://127.0.0.1:{self.port}/v1/sessions/ws", open_timeout=30, max_size=4 << 20))
            start = json.dumps({"type": "start", "system": SYSTEM, "max_tokens": self.max_tokens, "temperature": 0})
            self.ws.send(start)
            sent += len(start.encode())
            ready = json.loads(self.ws.recv(timeout=60))
            if ready.get("type") != "ready":
                raise RuntimeError(f"session start failed: {ready}")
        frame = json.dumps({"type": "message", "content": message})
        self.ws.send(frame)
        sent += len(frame.encode())
        first = None
        while True:
            ev = json.loads(self.ws.recv(timeout=600))
            if ev["type"] == "token":
                if first is None and ev["text"]:
                    first = time.perf_counter()
            elif ev["type"] == "done":
                break
            elif ev["type"] == "error":
                raise RuntimeError(ev["message"])
        end = time.perf_counter()
        s = ev["stats"]
        return TurnResult((first or end) - t0, s["ttft_s"], end - t0, s["prompt_tokens"], s["cached_tokens"], sent)

    def close(self) -> None:
        self._stack.close()


class _Responses:
    """A streaming /v1/responses client: POST over one keep-alive connection (`full`: every turn
    sends the whole conversation as input items; `previous`: only the new message, after the last
    response's id) or response.create messages on one WebSocket at GET /v1/responses (the socket's
    opening counts toward turn 1). Client TTFT is the first output delta (text or call arguments)."""

    def __init__(self, port: int, mode: str, max_tokens: int):
        self.port, self.mode, self.max_tokens = port, mode, max_tokens
        self.items: list[dict] = []
        self.last_id: str | None = None
        self.conn: http.client.HTTPConnection | None = None
        self.ws = None
        self._stack = contextlib.ExitStack()

    def _body(self, message: str) -> dict:
        new = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": message}]}
        body = {"instructions": SYSTEM, "max_output_tokens": self.max_tokens, "temperature": 0,
                "tools": TOOLS, "store": True}
        if self.mode == "responses-full":
            self.items.append(new)
            return {**body, "input": list(self.items)}
        return {**body, "input": [new], **({"previous_response_id": self.last_id} if self.last_id else {})}

    def _events(self, body: dict):
        """(event dict) as they arrive, and the bytes sent."""
        if self.mode == "responses-websocket":
            from websockets.sync.client import connect

            if self.ws is None:
                self.ws = self._stack.enter_context(
                    connect(f"ws://127.0.0.1:{self.port}/v1/responses", open_timeout=30, max_size=4 << 20))
            frame = json.dumps({"type": "response.create", **body})
            self.ws.send(frame)
            yield len(frame.encode())
            while True:
                yield json.loads(self.ws.recv(timeout=600))
        data = json.dumps({**body, "stream": True}).encode()
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        self.conn.request("POST", "/v1/responses", body=data, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
        yield len(data)
        while True:
            line = resp.readline()
            if not line:
                raise RuntimeError("the stream ended before response.completed")
            if line.startswith(b"data: "):
                ev = json.loads(line[6:])
                if ev.get("type") in ("response.completed", "response.failed"):
                    resp.read()  # the rest of the stream, so the connection can carry the next request
                yield ev

    def turn(self, message: str) -> TurnResult:
        t0 = time.perf_counter()
        first, sent = None, 0
        for ev in self._events(self._body(message)):
            if isinstance(ev, int):
                sent = ev
                continue
            kind = ev.get("type", "")
            if kind in ("response.output_text.delta", "response.function_call_arguments.delta") and ev.get("delta"):
                first = first or time.perf_counter()
            elif kind in ("response.failed", "error"):
                raise RuntimeError(json.dumps(ev)[:300])
            elif kind == "response.completed":
                break
        end = time.perf_counter()
        response = ev["response"]
        self.last_id = response["id"]
        if self.mode == "responses-full":
            self.items += [o for o in response["output"] if o.get("type") in ("message", "function_call")]
        s = response["sparkcode"]
        return TurnResult((first or end) - t0, s["ttft_s"], end - t0, s["prompt_tokens"], s["cached_tokens"], sent)

    def close(self) -> None:
        self._stack.close()
        if self.conn is not None:
            self.conn.close()


def _client(mode: str, port: int, max_tokens: int):
    if mode.startswith("responses-"):
        return _Responses(port, mode, max_tokens)
    if mode == "websocket":
        return _WsChat(port, max_tokens)
    return _HttpChat(port, fresh=(mode == "http-fresh"), max_tokens=max_tokens)


def _conversation(mode: str, port: int, turns: int, max_tokens: int) -> list[TurnResult]:
    client = _client(mode, port, max_tokens)
    try:
        return [client.turn(TURNS[i]) for i in range(turns)]
    finally:
        client.close()


# ---------------------------------------------------------------------------- main

def add_arguments(p) -> None:
    """The flags `main` reads, for `sparkcode bench serve` (or ``python -m sparkcode.bench.serve_bench``)."""
    p.add_argument("--model", "-m", default="qwen2.5-coder-0.5b", help="model to serve (default qwen2.5-coder-0.5b)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--ctx", type=int, default=4096, help="context size in tokens (default 4096)")
    p.add_argument("--reps", type=int, default=3, help="conversations per client kind (default 3)")
    p.add_argument("--turns", type=int, default=4, help=f"turns per conversation, 1-{len(TURNS)} (default 4)")
    p.add_argument("--max-tokens", type=int, default=64, help="reply budget per turn (default 64)")
    p.add_argument("--modes", default=",".join(MODES), help=f"client kinds, comma-separated (default all: {','.join(MODES)})")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def main(args) -> int:
    from .. import models
    from ..backends.local import LocalBackend
    from ..server import create_app

    turns = int(getattr(args, "turns", 4) or 4)
    reps = int(getattr(args, "reps", 3) or 3)
    max_tokens = int(getattr(args, "max_tokens", 64) or 64)
    n_ctx = int(getattr(args, "ctx", 4096) or 4096)
    out = getattr(args, "out", "docs/BENCHMARKS.md") or "docs/BENCHMARKS.md"
    if not 1 <= turns <= len(TURNS):
        raise SystemExit(f"--turns must be between 1 and {len(TURNS)}")
    modes = tuple(m.strip() for m in (getattr(args, "modes", None) or ",".join(MODES)).split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise SystemExit(f"unknown --modes {', '.join(unknown)}; choose from {', '.join(MODES)}")

    backend = LocalBackend.load(getattr(args, "model", None) or "qwen2.5-coder-0.5b", n_ctx=n_ctx,
                                threads=getattr(args, "threads", None), show_progress=False)
    engine = backend.engine
    res = Results(turns)
    with serving(create_app(backend, max_tokens_cap=max(max_tokens, 16))) as port:
        wait_idle(port)
        _conversation("http-keepalive", port, 1, 8)  # warm-up: first requests pay one-off costs
        for rep in range(reps):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for mode in order:
                wait_idle(port)
                engine.reset()  # every conversation starts with an empty prefix cache
                for i, r in enumerate(_conversation(mode, port, turns, max_tokens)):
                    res.add(mode, i, r)
                line = " ".join(f"t{i + 1} {res.data[mode][i][-1].client_ttft_s * 1000:.0f}/"
                                f"{res.data[mode][i][-1].overhead_s * 1000:.1f}" for i in range(turns))
                print(f"rep {rep + 1} {mode:15s} client TTFT/overhead ms: {line}", flush=True)

    rows = []
    for i in range(turns):
        for mode in modes:
            rows.append([f"{i + 1}", mode, res.med(mode, i, "client_ttft_s") * 1000,
                         res.med(mode, i, "engine_ttft_s") * 1000, res.med(mode, i, "overhead_s") * 1000,
                         res.med(mode, i, "wall_s"), int(res.med(mode, i, "prompt_tokens")),
                         int(res.med(mode, i, "cached_tokens")), int(res.med(mode, i, "sent_bytes"))])
    body = markdown_table(["turn", "client", "client TTFT (ms)", "engine TTFT (ms)", "overhead (ms)",
                           "turn wall (s)", "prompt tok", "cached tok", "bytes sent"], rows)
    last = turns - 1
    ov = {m: [res.med(m, i, "overhead_s") * 1000 for i in range(turns)] for m in modes}
    body += ("\n\nOverhead = client-observed TTFT minus the engine's TTFT (prompt rendering, prefill and the "
             "first token, from the response's stats): connection setup, request parsing and validation, "
             "the hand-off to the generation thread, framing, client parsing. Median overhead over turns "
             + ", ".join(f"{m} **{median(ov[m]):.1f} ms**" for m in modes)
             + f"; turn {turns} bytes sent: "
             + ", ".join(f"{m} {int(res.med(m, last, 'sent_bytes'))}" for m in modes) + ".")

    png = None
    if out != "-":
        png = Path(out).resolve().parent / "bench-serve.png"
        groups = [f"overhead t{i + 1} (ms)" for i in range(turns)] + [f"TTFT t{turns} (ms)", f"wall t{turns} (s)"]
        series = {m: ov[m] + [res.med(m, last, "client_ttft_s") * 1000, res.med(m, last, "wall_s")] for m in modes}
        bar_chart(png, f"server overhead per turn ({engine.model_name}, {engine.threads} threads)", groups, series)
    spec = models.spec_for_path(engine.model.path)
    append_section(out, "Server overhead per turn: Chat Completions and Responses, HTTP vs WebSocket", {
        "model": spec.title if spec else engine.model_name, "threads": engine.threads, "n_ctx": n_ctx,
        "machine": machine(), "repetitions": reps, "turns": turns, "reply budget": f"{max_tokens} tokens, greedy",
        "server": "in-process uvicorn on 127.0.0.1; client: http.client / websockets (sync)",
        "clients": ", ".join(modes),
    }, body, png)
    return 0


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m sparkcode.bench.serve_bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
