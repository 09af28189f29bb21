"""A deterministic Backend that replays scripted replies: the test double for agent logic.

Each call to `stream_chat` pops the next reply (a string, or a callable taking the request and
returning one), streams it in small chunks, and records the request so tests can assert on what
the model was shown. Running out of replies is an error, so a test cannot loop silently.
"""

from __future__ import annotations

from typing import Callable, Iterator

from ..engine.stats import Done, Stats, TextDelta
from .base import ChatRequest, one_by_one

Reply = str | Callable[[ChatRequest], str]


class ScriptedBackend:
    def __init__(self, replies: list[Reply], name: str = "scripted", chunk: int = 7):
        self.replies = list(replies)
        self.name = name
        self.chunk = chunk
        self.requests: list[ChatRequest] = []
        self.batches: list[int] = []  # the size of each complete_many call, in order

    def complete_many(self, requests: list[ChatRequest], on_text=None) -> list[Done]:
        """As a batching backend would: the next len(requests) replies, in order."""
        self.batches.append(len(requests))
        return one_by_one(self, requests, on_text)

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        self.requests.append(request)
        if not self.replies:
            raise RuntimeError("ScriptedBackend ran out of replies")
        reply = self.replies.pop(0)
        text = reply(request) if callable(reply) else reply
        words = len(text) // 4 + 1
        text = text[: max(0, request.max_tokens * 4)] if words > request.max_tokens else text
        finish = "length" if words > request.max_tokens else "stop"
        for i in range(0, len(text), self.chunk):
            yield TextDelta(text[i : i + self.chunk])
            if request.should_stop is not None and request.should_stop():  # as the engine does
                text, finish = text[: i + self.chunk], "cancelled"
                words = len(text) // 4 + 1
                break
        prompt = sum(len(str(m.get("content", ""))) for m in request.messages) // 4
        yield Done(text, finish,
                   Stats(prompt_tokens=prompt, decode_tokens=min(words, request.max_tokens), ttft_s=0.001,
                         decode_s=0.01, wall_s=0.011), [])
