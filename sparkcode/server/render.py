"""One generation path, one renderer per wire format.

Every endpoint turns its request into one `ChatRequest`, queues it as one scheduler job, and
hands the job's events (`TextDelta`s, then one `Done`) to a *renderer*: a small object that says
what that wire format sends at the start, for each piece of text, at the end, and on a failure.
`render_events` drives a renderer over the events and yields JSON objects (what a WebSocket
sends as text frames); `stream_sse` frames the same objects as Server-Sent Events, with
``event:`` lines for formats that name their events and a closing ``data: [DONE]`` for those
that have one. A new API is a new renderer, not another copy of the streaming loop.
"""

from __future__ import annotations

import time
from typing import AsyncIterator, Protocol

from ..engine.stats import Done, TextDelta
from . import openai_format as fmt
from .tool_extract import declared_tools
from .errors import ApiError, from_backend_failure
from .scheduler import JobFailed


class Renderer(Protocol):
    named_events: bool  # SSE frames carry an `event: <type>` line (the object's "type")
    done_marker: str | None  # a last `data:` line after everything, e.g. "[DONE]"

    def start(self) -> list[dict]: ...

    def delta(self, text: str) -> list[dict]: ...

    def finish(self, done: Done) -> list[dict]: ...

    def fail(self, error: ApiError) -> list[dict]: ...


def no_result_error() -> ApiError:
    return ApiError(500, "the backend ended without a result", code="backend_error")


async def render_events(events: AsyncIterator, renderer: Renderer) -> AsyncIterator[dict]:
    """The renderer's objects for one job's events; a failure becomes the renderer's failure objects."""
    for obj in renderer.start():
        yield obj
    done = None
    try:
        async for ev in events:
            if isinstance(ev, TextDelta):
                for obj in renderer.delta(ev.text):
                    yield obj
            elif isinstance(ev, Done):
                done = ev
    except JobFailed as e:
        for obj in renderer.fail(from_backend_failure(e.error)):
            yield obj
        return
    for obj in (renderer.fail(no_result_error()) if done is None else renderer.finish(done)):
        yield obj


async def stream_sse(events: AsyncIterator, renderer: Renderer) -> AsyncIterator[bytes]:
    async for obj in render_events(events, renderer):
        yield fmt.sse(obj, event=obj.get("type") if renderer.named_events else None)
    if renderer.done_marker:
        yield fmt.sse(renderer.done_marker)


class ChatRenderer:
    """`chat.completion.chunk`s; tool calls are held back and sent whole at the end."""

    named_events = False
    done_marker = "[DONE]"

    def __init__(self, cid: str, model: str, tools: list[dict] | None, include_usage: bool):
        self.cid, self.model, self.include_usage = cid, model, include_usage
        self.created = int(time.time())
        self.hold = fmt.ToolCallHoldback(tools is not None, declared_tools(tools))

    def _chunk(self, delta: dict | None, finish: str | None = None, **extra) -> dict:
        return fmt.chat_chunk(self.cid, self.model, self.created, delta, finish, **extra)

    def start(self) -> list[dict]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def delta(self, text: str) -> list[dict]:
        text = self.hold.feed(text)
        return [self._chunk({"content": text})] if text else []

    def finish(self, done: Done) -> list[dict]:
        rest, calls, errors = self.hold.finish()
        out = [self._chunk({"content": rest})] if rest else []
        out += [self._chunk({"tool_calls": [{"index": i, **call}]}) for i, call in enumerate(calls)]
        out.append(self._chunk({}, fmt.finish_reason(done, bool(calls)), sparkcode=fmt.sparkcode_ext(done, errors)))
        if self.include_usage:
            out.append(self._chunk(None, usage=fmt.usage(done)))
        return out

    def fail(self, error: ApiError) -> list[dict]:
        return [error.body()]


class TextRenderer:
    """Legacy `text_completion` chunks (with the echoed prompt first when asked)."""

    named_events = False
    done_marker = "[DONE]"

    def __init__(self, cid: str, model: str, prefix: str, include_usage: bool):
        self.cid, self.model, self.prefix, self.include_usage = cid, model, prefix, include_usage
        self.created = int(time.time())

    def _chunk(self, text: str | None, finish: str | None = None, **extra) -> dict:
        return fmt.text_chunk(self.cid, self.model, self.created, text, finish, **extra)

    def start(self) -> list[dict]:
        return [self._chunk(self.prefix)] if self.prefix else []

    def delta(self, text: str) -> list[dict]:
        return [self._chunk(text)] if text else []

    def finish(self, done: Done) -> list[dict]:
        out = [self._chunk("", fmt.finish_reason(done), sparkcode=fmt.sparkcode_ext(done))]
        if self.include_usage:
            out.append(self._chunk(None, usage=fmt.usage(done)))
        return out

    def fail(self, error: ApiError) -> list[dict]:
        return [error.body()]
