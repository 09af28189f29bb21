"""The embedded engine as a Backend, and its requests served together (`LocalBatch`)."""

from __future__ import annotations

import time
from typing import Callable, Iterator

from ..engine.stats import Done, TextDelta
from ..errors import EngineError
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

    def complete_many(self, requests: list[ChatRequest],
                      on_text: Callable[[int, str], None] | None = None) -> list[Done]:
        """Several replies decoded together in one batch (candidates of one turn to choose from).
        The first request's prompt is evaluated once, in the engine's own cache (its disk cache and
        the next turn reuse it), and its KV state copied into every sequence of the batch: the
        sequences share its cells. Each reply's KV state is kept by the engine afterwards
        (`Engine.keep_states`): the next turn, continuing one of them, does not read that reply
        again. `on_text(i, delta)` sees each reply's text as it grows; a request's `should_stop`
        cancels that reply alone. Constraints are not supported here."""
        from ..engine.batch import BatchDecoder
        from ..engine.core import common_prefix

        eng = self.engine
        prompts = [eng.tokenize_prompt(r.messages, r.tools) for r in requests]
        first = prompts[0]
        if len(first) >= eng.n_ctx:
            raise EngineError(f"prompt is {len(first)} tokens; the context holds {eng.n_ctx}")
        # the engine's own sequence may hold a reply to this prompt (the first candidate): kept too
        own = ([(list(eng.cached), eng.ctx.save_seq())]
               if len(eng.cached) > common_prefix(eng.cached, first) + 16 else [])
        t0 = time.perf_counter()
        _, cached = eng.prefill(first, keep=eng.system_prefix(requests[0].messages, requests[0].tools, first)
                                if eng.disk_cache is not None else 0)
        prefill_s = time.perf_counter() - t0
        # one unified cache: the shared prompt once, every reply's own tokens beside it
        n_ctx = min(eng.model.n_ctx_train, eng.n_ctx + len(requests) * max(r.max_tokens for r in requests))
        room = (n_ctx - max(len(p) for p in prompts) - 16) // len(requests)
        dec = BatchDecoder(eng.model, n_slots=len(requests), n_ctx=n_ctx, threads=eng.threads,
                           flash_attn=eng.flash_attn)
        try:
            dec.load(list(eng.cached), eng.ctx.save_seq())
            seqs = [dec.add(p, min(r.max_tokens, room), r.sampling, r.stop) for p, r in zip(prompts, requests)]
            index = {id(s): i for i, s in enumerate(seqs)}
            while dec.active:
                for s in dec.step():
                    text = s.take_text()
                    if text and on_text is not None:
                        on_text(index[id(s)], text)
                for s, r in zip(seqs, requests):
                    if not s.done and r.should_stop is not None and r.should_stop():
                        dec.cancel(s)
            # whichever reply the caller keeps, its next turn continues it without reading it again
            eng.keep_states(own + [(s.slot.tokens, dec.ctx.save_seq(s.slot.id)) for s in seqs])
            for s in seqs:  # the prompt was read before the batch: its time and cache count too
                st = s.stats
                st.cached_tokens, st.disk_cached_tokens = cached, eng.disk_tokens
                st.prefill_s += prefill_s
                st.ttft_s += prefill_s
                st.wall_s += prefill_s
            return [LocalBatch.done(s) for s in seqs]
        finally:
            dec.close()

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
