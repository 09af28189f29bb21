"""The embedded engine as a Backend, and its requests served together (`LocalBatch`)."""

from __future__ import annotations

from typing import Iterator

from ..engine.stats import Done, TextDelta
from .base import ChatRequest


class LocalBackend:
    def __init__(self, engine):
        self.engine = engine
        self.name = engine.model_name

    @classmethod
    def load(cls, model: str | None = None, **engine_kw) -> "LocalBackend":
        from ..engine.core import Engine

        return cls(Engine(model, **engine_kw))

    def kv_usage(self) -> tuple[int, int]:
        """(KV cells holding the cached sequence's tokens, cells in all): one sequence, one slot."""
        return len(self.engine.cached), self.engine.n_ctx

    @staticmethod
    def batch_takes(request: ChatRequest) -> bool:
        """A request a batch can serve: no grammar to follow, not a side request."""
        return request.constraint is None and not request.keep_cache

    def batch(self, n_slots: int) -> "LocalBatch":
        """Chat requests served together in `n_slots` KV slots of a context of their own."""
        return LocalBatch(self.engine, n_slots)

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        if request.keep_cache:
            return self._side(request)
        return self._stream(request)

    def _stream(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        return self.engine.stream(request.messages, max_tokens=request.max_tokens, sampling=request.sampling,
                                  stop=request.stop, tools=request.tools, speculate=request.speculate,
                                  should_stop=request.should_stop,
                                  grammar=request.constraint.grammar if request.constraint else None)

    def _side(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        with self.engine.keep_cache():
            yield from self._stream(request)


class LocalBatch:
    """Chat requests as sequences of one `BatchDecoder` (engine/batch.py), for the server's
    scheduler: `add` a request, `step` them all, `cancel` one, turn an ended one into a `Done`.
    Requests with a grammar (structured output) or that must keep the main conversation's cache
    are not batched (`batch_takes`); they run on the engine alone."""

    def __init__(self, engine, n_slots: int):
        from ..engine.batch import BatchDecoder

        self.engine = engine
        self.n_slots = n_slots
        self.decoder = BatchDecoder(engine.model, n_slots=n_slots, n_ctx=engine.n_ctx, threads=engine.threads)

    def add(self, request: ChatRequest):
        tokens = self.engine.tokenize_prompt(request.messages, request.tools)
        return self.decoder.add(tokens, request.max_tokens, request.sampling, request.stop)

    def step(self) -> list:
        return self.decoder.step()

    def cancel(self, seq) -> None:
        self.decoder.cancel(seq)

    def slot_states(self) -> list[dict]:
        return [{"id": s.id, "state": "busy" if s.busy is not None else "idle", "kv_cells_used": len(s.tokens),
                 "kv_cells_total": self.decoder.ctx.n_ctx} for s in self.decoder.slots]

    @staticmethod
    def done(seq) -> Done:
        return Done(seq.text.text, seq.finish or "length", seq.stats, list(seq.out))

    def close(self) -> None:
        self.decoder.close()
