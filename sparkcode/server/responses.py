"""The OpenAI Responses API: request schema, input items -> chat messages, the response store,
and the renderer of Responses stream events.

A Responses request becomes the same `ChatRequest` every endpoint uses: ``instructions`` is a
system message, ``input`` items (messages, ``function_call``, ``function_call_output``) become
chat messages, and function ``tools`` take the chat shape. ``previous_response_id`` prepends the
stored conversation (the input and output items of that response and of its own ancestors);
recent responses are kept in a bounded in-memory LRU store. Only text and function tools are
served: other tool types are skipped and listed in the response's ``sparkcode.warnings``.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from typing import Any, Callable

from pydantic import Field

from ..backends.base import ChatRequest
from ..engine.stats import Done
from . import openai_format as fmt
from .tool_extract import declared_tools
from .errors import ApiError
from .schemas import _Generation
from .structured import responses_constraint

TEXT_PART_TYPES = ("input_text", "output_text", "text", "summary_text", "reasoning_text")
MESSAGE_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


class ResponsesRequest(_Generation):
    """``POST /v1/responses`` (and a WebSocket ``response.create``). Unknown fields are ignored."""

    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None
    text: dict[str, Any] | None = None  # text.format: structured output (see structured.py)
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None

    def input_items(self) -> list[dict]:
        """The input as a list of items; a string is one user message."""
        if self.input is None:
            return []
        if isinstance(self.input, str):
            return [{"type": "message", "role": "user", "content": self.input}]
        return self.input

    def convert_tools(self) -> tuple[list[dict] | None, list[dict], list[str]]:
        """(tools for the backend in chat shape, the function tools as echoed back, skipped tools)."""
        chat_tools, echoed, skipped = [], [], []
        for i, t in enumerate(self.tools or []):
            kind = t.get("type")
            if kind != "function":
                name = t.get("name")
                skipped.append(f"{kind}:{name}" if name else str(kind))
                continue
            name = t.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError(400, "a function tool needs a name", param=f"tools[{i}].name")
            fn: dict[str, Any] = {"name": name}
            if t.get("description") is not None:
                fn["description"] = t["description"]
            if t.get("parameters") is not None:
                fn["parameters"] = t["parameters"]
            chat_tools.append({"type": "function", "function": fn})
            echoed.append({"type": "function", "name": name, "description": t.get("description"),
                           "parameters": t.get("parameters"), "strict": t.get("strict")})
        choice = self.tool_choice
        if choice == "none":
            return None, echoed, skipped
        if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
            named = [t for t in chat_tools if t["function"]["name"] == choice["name"]]
            if not named:
                raise ApiError(400, f"tool_choice names {choice['name']!r}, which is not among the function tools",
                               param="tool_choice")
            chat_tools = named
        return (chat_tools or None), echoed, skipped

    def to_chat_request(self, cap: int, history: list[dict]) -> tuple[ChatRequest, list[dict], list[str]]:
        """(the backend request, this request's input items, warnings about what was left out)."""
        items = self.input_items()
        messages, warnings = items_to_messages(history + items, offset=len(history))
        if self.instructions:
            messages.insert(0, {"role": "system", "content": self.instructions})
        if not messages:
            raise ApiError(400, "input is empty: send input (a string or a list of items)", param="input")
        tools, _, skipped = self.convert_tools()
        if skipped:
            warnings.append("tools not supported by this server were skipped: " + ", ".join(skipped))
        constraint = responses_constraint(self.text, tools, self.tool_choice)
        return self._chat_request(messages, cap, tools, self.max_output_tokens, constraint), items, warnings


def _text_of(content: Any, param: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ApiError(400, "content must be a string or a list of parts", param=param)
    out = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PART_TYPES:
            out.append(str(part.get("text") or ""))
        elif kind == "refusal":
            out.append(str(part.get("refusal") or ""))
        else:
            raise ApiError(400, f"content part type {kind!r} is not supported: this server reads text only",
                           param=f"{param}[{j}].type")
    return "".join(out)


def items_to_messages(items: list[dict], offset: int = 0) -> tuple[list[dict], list[str]]:
    """Chat messages for Responses items; reasoning and unknown items are left out (with a warning).

    A ``function_call`` joins the assistant message just before it (one assistant turn may hold
    text and several calls); ``function_call_output`` is a ``tool`` message.
    """
    messages: list[dict] = []
    skipped: list[str] = []
    for n, item in enumerate(items):
        param = f"input[{n - offset}]"
        if not isinstance(item, dict):
            raise ApiError(400, "each input item must be an object", param=param)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = MESSAGE_ROLES.get(item.get("role"))
            if role is None:
                raise ApiError(400, f"unknown message role {item.get('role')!r}", param=f"{param}.role")
            messages.append({"role": role, "content": _text_of(item.get("content"), f"{param}.content")})
        elif kind == "function_call":
            name, call_id = item.get("name"), item.get("call_id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                raise ApiError(400, "a function_call item needs name and call_id", param=param)
            args = item.get("arguments", "{}")
            call = {"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if not last.get("content"):
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            out = item.get("output")
            text = out if isinstance(out, str) else (_text_of(out, f"{param}.output") if isinstance(out, list)
                                                     else json.dumps(out))
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": text})
        elif kind == "reasoning":
            continue
        else:
            skipped.append(str(kind))
    warnings = [f"input items not supported by this server were skipped: {', '.join(sorted(set(skipped)))}"] \
        if skipped else []
    return messages, warnings


class ResponseStore:
    """Recent responses' conversations (input + output items, ancestors included), LRU, in memory.

    Item dicts are shared between entries, so a long chain of responses costs a list of
    references per entry, not a copy of every item.
    """

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._items: collections.OrderedDict[str, list[dict]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, response_id: str) -> list[dict] | None:
        with self._lock:
            items = self._items.get(response_id)
            if items is not None:
                self._items.move_to_end(response_id)
            return items

    def put(self, response_id: str, items: list[dict]) -> None:
        with self._lock:
            self._items[response_id] = items
            self._items.move_to_end(response_id)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def history(self, response_id: str | None) -> list[dict]:
        if response_id is None:
            return []
        items = self.get(response_id)
        if items is None:
            raise ApiError(400, f"Previous response with id '{response_id}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        return items


def usage(done: Done) -> dict:
    s = done.stats
    out = s.decode_tokens or len(done.tokens)
    return {"input_tokens": s.prompt_tokens,
            "input_tokens_details": {"cached_tokens": s.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": s.prompt_tokens + out}


def response_skeleton(body: ResponsesRequest, rid: str, model: str, warnings: list[str]) -> dict:
    """The response object's fields that do not change while it is generated."""
    _, echoed_tools, _ = body.convert_tools()
    ext: dict[str, Any] = {"warnings": warnings} if warnings else {}
    return {"id": rid, "object": "response", "created_at": int(time.time()), "model": model,
            "error": None, "incomplete_details": None, "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens, "metadata": body.metadata or {},
            "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
            "previous_response_id": body.previous_response_id, "reasoning": {"effort": None, "summary": None},
            "store": body.store if body.store is not None else True, "temperature": body.temperature,
            "text": body.text or {"format": {"type": "text"}}, "tool_choice": body.tool_choice or "auto",
            "tools": echoed_tools, "top_p": body.top_p, "truncation": "disabled", "user": body.user,
            "usage": None, "sparkcode": ext}


class ResponsesRenderer:
    """Responses stream events, in the order the OpenAI SDK and Codex read them.

    response.created, response.in_progress; for text: output_item.added (message),
    content_part.added, output_text.delta..., output_text.done, content_part.done,
    output_item.done; for each tool call: output_item.added (function_call),
    function_call_arguments.delta, function_call_arguments.done, output_item.done; then
    response.completed (status "completed", or "incomplete" when cut by the token limit).
    A failure after the start is response.failed. The message item opens with the first text,
    so a reply that is only tool calls has no empty message before them.
    """

    named_events = True
    done_marker = None

    def __init__(self, skeleton: dict, tools: list[dict] | None, on_finish: Callable[[dict], None] | None = None):
        self.skeleton = skeleton
        self.on_finish = on_finish
        self.hold = fmt.ToolCallHoldback(tools is not None, declared_tools(tools))
        self.seq = 0
        self.output: list[dict] = []
        self.msg: dict | None = None
        self.msg_index = -1
        self.text = ""
        self.response: dict | None = None  # the final response object

    def _ev(self, kind: str, **fields) -> dict:
        ev = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return ev

    def _response(self, status: str, **fields) -> dict:
        return {**self.skeleton, "status": status, "output": [dict(i) for i in self.output], **fields}

    def start(self) -> list[dict]:
        return [self._ev("response.created", response=self._response("in_progress")),
                self._ev("response.in_progress", response=self._response("in_progress"))]

    def _open_message(self) -> list[dict]:
        self.msg = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress",
                    "content": []}
        self.msg_index = len(self.output)
        self.output.append(self.msg)
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [self._ev("response.output_item.added", output_index=self.msg_index, item=dict(self.msg)),
                self._ev("response.content_part.added", item_id=self.msg["id"], output_index=self.msg_index,
                         content_index=0, part=part)]

    def _text(self, text: str) -> list[dict]:
        out = self._open_message() if self.msg is None else []
        self.text += text
        self.msg["content"] = [{"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}]
        out.append(self._ev("response.output_text.delta", item_id=self.msg["id"], output_index=self.msg_index,
                            content_index=0, delta=text, logprobs=[]))
        return out

    def delta(self, text: str) -> list[dict]:
        text = self.hold.feed(text)
        return self._text(text) if text else []

    def finish(self, done: Done) -> list[dict]:
        rest, calls, errors = self.hold.finish()
        cut = done.finish_reason != "stop"
        out = self._text(rest) if rest else []
        if self.msg is None and not calls:
            out += self._open_message()
        if self.msg is not None:
            part = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
            self.msg.update(status="incomplete" if cut else "completed", content=[part])
            ids = {"item_id": self.msg["id"], "output_index": self.msg_index, "content_index": 0}
            out += [self._ev("response.output_text.done", **ids, text=self.text, logprobs=[]),
                    self._ev("response.content_part.done", **ids, part=part),
                    self._ev("response.output_item.done", output_index=self.msg_index, item=dict(self.msg))]
        for call in calls:
            fn = call["function"]
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress", "call_id": call["id"],
                    "name": fn["name"], "arguments": ""}
            index = len(self.output)
            self.output.append(item)
            out.append(self._ev("response.output_item.added", output_index=index, item=dict(item)))
            out.append(self._ev("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                                delta=fn["arguments"]))
            out.append(self._ev("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                name=fn["name"], arguments=fn["arguments"]))
            item.update(status="completed", arguments=fn["arguments"])
            out.append(self._ev("response.output_item.done", output_index=index, item=dict(item)))
        ext = {**self.skeleton["sparkcode"], **fmt.sparkcode_ext(done, errors)}
        self.response = self._response("incomplete" if cut else "completed", usage=usage(done),
                                       incomplete_details={"reason": "max_output_tokens"} if cut else None,
                                       completed_at=int(time.time()), sparkcode=ext)
        if self.on_finish is not None:
            self.on_finish(self.response)
        out.append(self._ev("response.completed", response=self.response))
        return out

    def fail(self, error: ApiError) -> list[dict]:
        self.response = self._response("failed", error={"code": error.code or error.type, "message": error.message})
        return [self._ev("response.failed", response=self.response)]


def render_whole(renderer: ResponsesRenderer, done: Done) -> dict:
    """The final response object of a finished generation (the non-streaming answer)."""
    renderer.start()
    renderer.delta(done.text)
    renderer.finish(done)
    return renderer.response
