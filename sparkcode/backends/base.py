"""The Backend protocol and the request it takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, runtime_checkable

from ..engine.sampling import SamplingParams
from ..engine.stats import Done, TextDelta


@dataclass(frozen=True)
class Constraint:
    """What the reply must look like: a GBNF grammar (root rule "root") that an embedded engine
    enforces token by token, and the OpenAI request fields it was made from, which a remote
    OpenAI-compatible backend forwards instead (chat shapes: ``response_format``, ``tool_choice``)."""

    grammar: str
    kind: str = "grammar"  # "json_object", "json_schema", "tool_call" or "grammar"
    response_format: dict | None = None
    tool_choice: str | dict | None = None


@dataclass
class ChatRequest:
    messages: list[dict]
    max_tokens: int = 1024
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: list[str] = field(default_factory=list)
    tools: list[dict] | None = None
    speculate: str = "auto"
    should_stop: Callable[[], bool] | None = None
    keep_cache: bool = False  # a side request: an embedded engine keeps the main conversation's KV cache
    constraint: Constraint | None = None  # structured output / a forced tool call


@runtime_checkable
class Backend(Protocol):
    """Streams one chat reply: `TextDelta`s, then exactly one `Done` (with `Stats`)."""

    name: str

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]: ...


def batches(backend: Backend) -> bool:
    """Whether the backend decodes several requests together (`complete_many`)."""
    return callable(getattr(backend, "complete_many", None))


def complete_many(backend: Backend, requests: list[ChatRequest],
                  on_text: Callable[[int, str], None] | None = None) -> list[Done]:
    """One reply per request: decoded together where the backend can, else one after another.
    `on_text(i, delta)` sees reply i's text as it streams."""
    if batches(backend):
        return backend.complete_many(requests, on_text)
    return one_by_one(backend, requests, on_text)


def one_by_one(backend: Backend, requests: list[ChatRequest],
               on_text: Callable[[int, str], None] | None = None) -> list[Done]:
    out = []
    for i, request in enumerate(requests):
        done = None
        for ev in backend.stream_chat(request):
            if isinstance(ev, TextDelta):
                if on_text is not None:
                    on_text(i, ev.text)
            elif isinstance(ev, Done):
                done = ev
        if done is None:
            raise RuntimeError(f"backend {backend.name} ended without a Done event")
        out.append(done)
    return out


def collect(backend: Backend, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> Done:
    """The reply's `Done`; `on_text(delta)` sees its text as it streams."""
    done = None
    for ev in backend.stream_chat(request):
        if isinstance(ev, TextDelta):
            if on_text is not None:
                on_text(ev.text)
        elif isinstance(ev, Done):
            done = ev
    if done is None:
        raise RuntimeError(f"backend {backend.name} ended without a Done event")
    return done
