"""OpenAI response shapes: completions, stream chunks, usage, and tool-call extraction.

Every response also carries a ``"sparkcode"`` extension with the generation's `Stats` (cache
hits, TTFT, decode tok/s, speculation), which OpenAI clients ignore.
"""

from __future__ import annotations

import json
import time
import uuid

from ..engine.chat import ToolCall, parse_tool_calls
from ..engine.stats import Done
from .tool_extract import CALL_FENCE_INFO, FENCE, bare_tool_calls, fenced_tool_calls

TOOL_TAG = "<tool_call>"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def finish_reason(done: Done, tool_calls: bool = False) -> str:
    if tool_calls:
        return "tool_calls"
    # "cancelled" (wall-time limit) reads as truncated to an OpenAI client
    return "stop" if done.finish_reason == "stop" else "length"


def usage(done: Done) -> dict:
    s = done.stats
    completion = s.decode_tokens or len(done.tokens)
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": completion,
            "total_tokens": s.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": s.cached_tokens}}


def sparkcode_ext(done: Done, tool_errors: list[str] | None = None) -> dict:
    d = done.stats.to_dict()
    if tool_errors:
        d["tool_call_errors"] = tool_errors
    return d


def openai_tool_calls(calls: list[ToolCall]) -> list[dict]:
    out = []
    for c in calls:
        c.id = f"call_{uuid.uuid4().hex[:24]}"  # parse_tool_calls numbers them per reply; make them unique
        out.append(c.to_openai())
    return out


def split_tool_calls(text: str, enabled: bool, declared: dict[str, dict] | None = None, whole: bool = True
                     ) -> tuple[str | None, list[dict], list[str]]:
    """(content, OpenAI tool_calls, errors). Calls come from ``<tool_call>`` tags, or — to the
    `declared` functions only (tool_extract.py) — from a `whole` reply that is nothing but call
    objects, or from fenced JSON blocks in it. Without valid calls the whole text is content."""
    declared = declared if enabled else None
    if enabled and TOOL_TAG in text:
        content, calls, errors = parse_tool_calls(text)
        if not calls:
            return text, [], errors
        return (content or None), openai_tool_calls(calls), errors
    if declared:
        if whole and text.lstrip().startswith(("{", "[")):
            calls = bare_tool_calls(text, declared)
            if calls:
                return None, openai_tool_calls(calls), []
        if FENCE in text:
            content, calls = fenced_tool_calls(text, declared)
            if calls:
                return (content or None), openai_tool_calls(calls), []
    return text, [], []


class ToolCallHoldback:
    """Streams text as it comes but holds everything from the first ``<tool_call>`` on.

    `feed` returns what may be sent now (a trailing partial tag such as ``"<tool"`` is held until
    it is resolved); `finish` parses the held tail into tool calls, or releases it as text. With
    `declared` functions, a reply that opens with ``{`` or ``[`` is held whole too (a call written
    without the tags), and so is everything from a code fence on that may hold a call: a
    ```` ```json ```` or bare ```` ``` ```` block whose body opens with ``{`` or ``[`` (see
    tool_extract.py). A fence is held only until its info string and first character show
    otherwise: a ```` ```python ```` block streams as it is written, to its closing fence.
    """

    def __init__(self, enabled: bool, declared: dict[str, dict] | None = None):
        self.enabled = enabled
        self.declared = (declared or {}) if enabled else {}
        self.text = ""
        self.sent = 0
        self.held = False
        self.scan = 0  # fences before this are settled (not calls)
        self.inside = -1  # in a block that is not a call: look for its closing fence from here

    def feed(self, delta: str) -> str:
        self.text += delta
        if self.held:
            return ""
        if self.declared and self.sent == 0:
            head = self.text.lstrip()
            if not head:
                return ""  # nothing visible yet: wait for the first character
            if head.startswith(("{", "[")):
                self.held = True
                return ""
        end = self._sendable() if self.enabled else len(self.text)
        out, self.sent = self.text[self.sent:end], max(self.sent, end)
        return out

    def _sendable(self) -> int:
        """How far the text may be sent: up to a tool tag (then held), a fence that may open a
        call (held), or a fence or tag not yet resolved (wait)."""
        text = self.text
        while True:
            if self.inside >= 0:  # a block that is not a call: its closing fence ends it
                close = text.find(FENCE, self.inside)
                if close < 0:
                    return self._before_partial(len(text), self.sent)
                self.scan, self.inside = close + len(FENCE), -1
            tag = text.find(TOOL_TAG, self.sent)
            fence = text.find(FENCE, max(self.sent, self.scan)) if self.declared else -1
            if tag >= 0 and (fence < 0 or tag < fence):
                self.held = True
                return tag
            if fence < 0:
                return self._before_partial(len(text), self.sent)
            kind = self._fence_kind(fence)
            if kind == "call":
                self.held = True
                return fence
            if kind == "open":
                return fence
            if not text[text.rfind("\n", 0, fence) + 1:fence].strip():
                self.inside = fence + len(FENCE)  # a code block: stream it to its closing fence
            else:
                self.scan = fence + len(FENCE)  # backticks amid a line open no block

    def _fence_kind(self, at: int) -> str:
        """"call" (a block that may hold a call), "code" (one that cannot), or "open" (not yet known)."""
        line_end = self.text.find("\n", at + len(FENCE))
        info = self.text[at + len(FENCE):line_end if line_end >= 0 else len(self.text)].strip()
        if line_end < 0:  # the info string may still grow into one of a call's
            return "open" if any(i.startswith(info) for i in CALL_FENCE_INFO) else "code"
        if info not in CALL_FENCE_INFO:
            return "code"
        body = self.text[line_end + 1:].lstrip()
        if not body:
            return "open"
        return "call" if body[0] in "{[" else "code"

    def _before_partial(self, end: int, start: int) -> int:
        marks = (TOOL_TAG, FENCE) if self.declared else (TOOL_TAG,)
        return max(start, end - max(_partial_len(self.text, m) for m in marks))

    def finish(self) -> tuple[str, list[dict], list[str]]:
        """(text still to send, tool calls, tool-call errors)."""
        whole, tail = self.sent == 0, self.text[self.sent:]
        self.sent = len(self.text)
        content, calls, errors = split_tool_calls(tail, self.enabled, self.declared, whole=whole)
        if not calls:
            return tail, [], errors
        return (content or ""), calls, errors


def _partial_len(text: str, mark: str) -> int:
    """How much of `mark`'s beginning `text` ends with (to hold back until it is resolved)."""
    for k in range(min(len(mark) - 1, len(text)), 0, -1):
        if text.endswith(mark[:k]):
            return k
    return 0


def chat_completion(cid: str, model: str, done: Done, tools_enabled: bool,
                    declared: dict[str, dict] | None = None) -> dict:
    content, calls, errors = split_tool_calls(done.text, tools_enabled, declared)
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason(done, bool(calls))}],
            "usage": usage(done), "sparkcode": sparkcode_ext(done, errors)}


def chat_chunk(cid: str, model: str, created: int, delta: dict | None, finish: str | None = None,
               **extra) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": choices, **extra}


def text_completion(cid: str, model: str, done: Done, prefix: str = "") -> dict:
    return {"id": cid, "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "text": prefix + done.text, "logprobs": None,
                         "finish_reason": finish_reason(done)}],
            "usage": usage(done), "sparkcode": sparkcode_ext(done)}


def text_chunk(cid: str, model: str, created: int, text: str | None, finish: str | None = None, **extra) -> dict:
    choices = [] if text is None else [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]
    return {"id": cid, "object": "text_completion", "created": created, "model": model, "choices": choices, **extra}


def sse(obj: dict | str, event: str | None = None) -> bytes:
    """One Server-Sent Event: an optional ``event:`` line, then the ``data:`` line."""
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()
