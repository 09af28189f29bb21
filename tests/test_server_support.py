"""Shared helpers for the server tests (no tests here): a scripted fake backend and a live server.

`FakeBackend` streams a scripted reply word by word with tiny sleeps, honours `should_stop`
between tokens and ends with a `Done` carrying real `Stats`; it records every request and how
each generation ended, so tests can check history, cancellation and tool plumbing.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable


from sparkcode.backends.base import ChatRequest
from sparkcode.bench.local_server import free_port, serving  # noqa: F401 (free_port: for the tests that import it from here)
from sparkcode.engine.stats import Done, Stats, TextDelta

WEATHER_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


@dataclass
class Generation:
    messages: list[dict]
    tools: list[dict] | None
    max_tokens: int
    planned: int  # tokens the reply would have had
    emitted: int = 0
    finish_reason: str = ""
    stopped_early: bool = False


def default_script(req: ChatRequest) -> str:
    last = req.messages[-1]
    content = str(last.get("content") or "")
    if last["role"] == "tool":
        return f"The weather in Paris is {content}."
    if req.tools and "weather" in content.lower():
        return WEATHER_CALL
    if content.startswith("long"):
        return " ".join(f"w{i}" for i in range(400))
    if content.startswith("forever"):  # far longer than any test waits: only a cancel ends it
        return " ".join(f"w{i}" for i in range(20000))
    if content.startswith("fail"):
        raise RuntimeError("scripted backend failure")
    return f"Echo: {content}"


def tokenize(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text) or [""]


class FakeBackend:
    def __init__(self, script: Callable[[ChatRequest], str] = default_script, delay_s: float = 0.001,
                 name: str = "fake-coder"):
        self.name = name
        self.script = script
        self.delay_s = delay_s
        self.generations: list[Generation] = []
        self._lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0

    def stream_chat(self, request: ChatRequest):
        t0 = time.perf_counter()
        with self._lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            text = self.script(request)
            pieces = tokenize(text)
            gen = Generation(copy.deepcopy(request.messages), copy.deepcopy(request.tools), request.max_tokens,
                             planned=len(pieces))
            self.generations.append(gen)
            prompt_tokens = sum(len(str(m.get("content") or "").split()) + 4 for m in request.messages)
            out, first_at, reason = [], None, "stop"
            for piece in pieces:
                if request.should_stop is not None and request.should_stop():
                    reason, gen.stopped_early = "cancelled", True
                    break
                if len(out) >= request.max_tokens:
                    reason = "length"
                    break
                time.sleep(self.delay_s)
                out.append(piece)
                first_at = first_at or time.perf_counter()
                gen.emitted += 1
                yield TextDelta(piece)
            gen.finish_reason = reason
            end = time.perf_counter()
            stats = Stats(prompt_tokens=prompt_tokens, cached_tokens=0, prefill_s=0.0005,
                          ttft_s=(first_at or end) - t0, decode_tokens=len(out),
                          decode_s=end - (first_at or end), wall_s=end - t0)
            yield Done("".join(out), reason, stats, list(range(len(out))))
        finally:
            with self._lock:
                self.concurrent -= 1


class _FakeSequence:
    def __init__(self, gen: Generation, pieces: list[str], max_tokens: int, t0: float):
        self.gen, self.pieces, self.max_tokens, self.t0 = gen, pieces, max_tokens, t0
        self.out: list[str] = []
        self.finish: str | None = None
        self._new = ""
        self.first_at: float | None = None

    @property
    def done(self) -> bool:
        return self.finish is not None

    def take_text(self) -> str:
        text, self._new = self._new, ""
        return text


class FakeBatch:
    """The scheduler's batch protocol (as `backends.local.LocalBatch`), scripted: each `step` costs
    one delay and gives every active sequence its next word."""

    def __init__(self, backend: "FakeBatchBackend", n_slots: int):
        self.backend, self.n_slots = backend, n_slots
        self.active: list[_FakeSequence] = []

    def add(self, request: ChatRequest) -> _FakeSequence:
        if len(self.active) >= self.n_slots:
            raise RuntimeError("every slot is busy")
        pieces = tokenize(self.backend.script(request))
        gen = Generation(copy.deepcopy(request.messages), None, request.max_tokens, planned=len(pieces))
        self.backend.generations.append(gen)
        seq = _FakeSequence(gen, pieces, request.max_tokens, time.perf_counter())
        self.active.append(seq)
        self.backend.max_concurrent = max(self.backend.max_concurrent, len(self.active))
        return seq

    def step(self) -> list[_FakeSequence]:
        time.sleep(self.backend.delay_s)
        touched = list(self.active)
        for seq in touched:
            piece = seq.pieces[len(seq.out)]
            seq.out.append(piece)
            seq._new += piece
            seq.gen.emitted += 1
            seq.first_at = seq.first_at or time.perf_counter()
            if len(seq.out) == len(seq.pieces) or len(seq.out) >= seq.max_tokens:
                self._end(seq, "stop" if len(seq.out) == len(seq.pieces) else "length")
        return touched

    def cancel(self, seq: _FakeSequence) -> None:
        if not seq.done:
            seq.gen.stopped_early = True
            self._end(seq, "cancelled")

    def _end(self, seq: _FakeSequence, reason: str) -> None:
        seq.finish = seq.gen.finish_reason = reason
        self.active.remove(seq)

    def done(self, seq: _FakeSequence) -> Done:
        end = time.perf_counter()
        stats = Stats(prompt_tokens=4, decode_tokens=len(seq.out), ttft_s=(seq.first_at or end) - seq.t0,
                      decode_s=end - (seq.first_at or end), wall_s=end - seq.t0)
        return Done("".join(seq.out), seq.finish or "length", stats, list(range(len(seq.out))))

    def slot_states(self) -> list[dict]:
        return [{"id": i, "state": "busy" if i < len(self.active) else "idle"} for i in range(self.n_slots)]


class FakeBatchBackend(FakeBackend):
    """A `FakeBackend` whose plain chat requests can also be served together (`batch`)."""

    @staticmethod
    def batch_takes(request: ChatRequest) -> bool:
        return request.constraint is None and not request.keep_cache

    def batch(self, n_slots: int) -> FakeBatch:
        return FakeBatch(self, n_slots)


@contextlib.contextmanager
def running(app, port: int | None = None):
    """Run `app` with uvicorn on 127.0.0.1 in a background thread; yields the base URL."""
    with serving(app, port, ws_max_size=16 << 20) as port:  # uvicorn's own default
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving_model(model: str, n_ctx: int, max_tokens_cap: int = 256):
    """`sparkcode serve` with a real embedded model, on loopback in this process, as the client
    tests use it: yields (base URL, app); the engine is closed afterwards."""
    from sparkcode.backends.local import LocalBackend
    from sparkcode.engine.core import Engine
    from sparkcode.server import create_app

    engine = Engine(model, n_ctx=n_ctx, show_progress=False)
    try:
        app = create_app(LocalBackend(engine), max_tokens_cap=max_tokens_cap)
        with running(app) as url:
            yield url, app
    finally:
        engine.close()


def served(url: str, endpoint: str, status: int = 200) -> int:
    """How many requests to `endpoint` the server at `url` answered with `status` (from /metrics;
    101: a WebSocket opened)."""
    import urllib.request

    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    m = re.search(rf'sparkcode_requests_total\{{endpoint="{re.escape(endpoint)}",status="{status}"\}} (\d+)', text)
    return int(m.group(1)) if m else 0
