"""The embedded engine as a Backend."""

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
