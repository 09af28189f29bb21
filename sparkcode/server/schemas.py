"""Request bodies of the OpenAI-compatible endpoints, as pydantic models.

Types are strict (a string is not a number, "yes" is not a boolean), unknown top-level fields are
ignored the way OpenAI ignores them, and unknown fields inside messages are kept and passed to
the backend unchanged. Conversion to the backend's `ChatRequest` lives here too (structured
output and forced tool calls become its `Constraint`, see `structured.py`).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..backends.base import ChatRequest, Constraint
from ..engine.sampling import SamplingParams
from ..errors import EngineError
from .errors import ApiError, from_engine_error
from .structured import chat_constraint


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class FunctionCall(_Strict):
    name: str
    arguments: str


class ToolCallIn(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _needs_content(self) -> "Message":
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content"
                             + (" or tool_calls" if self.role == "assistant" else ""))
        return self

    def to_backend(self) -> dict:
        """The message as the client sent it; only text-part lists and "developer" are normalised."""
        d = self.model_dump(exclude_unset=True)
        if self.role == "developer":
            d["role"] = "system"
        if isinstance(self.content, list):
            d["content"] = "".join(p.text for p in self.content)
        return d


class FunctionDef(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionDef


class StreamOptions(_Strict):
    include_usage: bool = False


class _Generation(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # extension
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    speculate: str | None = None  # extension: passed to the backend as ChatRequest.speculate

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def _chat_request(self, messages: list[dict], cap: int, tools: list[dict] | None,
                      max_tokens: int | None, constraint: Constraint | None = None) -> ChatRequest:
        if self.n not in (None, 1):
            raise ApiError(400, "only n=1 is supported", param="n")
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > 16 or any(not s for s in stop):
            raise ApiError(400, "stop must be up to 16 non-empty strings", param="stop")
        kw: dict[str, Any] = {"max_tokens": min(max_tokens or cap, cap), "sampling": self.sampling(),
                              "stop": stop, "tools": tools, "constraint": constraint}
        if self.speculate is not None:
            kw["speculate"] = self.speculate
        return ChatRequest(messages=messages, **kw)

    def sampling(self) -> SamplingParams:
        given = {k: v for k, v in (("temperature", self.temperature), ("top_p", self.top_p),
                                   ("top_k", self.top_k), ("seed", self.seed)) if v is not None}
        for k, v in given.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ApiError(400, f"{k} must be a finite number", param=k)
        try:
            return SamplingParams(**given)
        except EngineError as e:
            raise from_engine_error(e) from e


class ChatCompletionRequest(_Generation):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None

    def tools_for_backend(self) -> list[dict] | None:
        if not self.tools or self.tool_choice == "none":
            return None
        return [t.model_dump(exclude_unset=True) for t in self.tools]

    def to_chat_request(self, cap: int) -> ChatRequest:
        tools = self.tools_for_backend()
        return self._chat_request([m.to_backend() for m in self.messages], cap, tools,
                                  self.max_completion_tokens or self.max_tokens,
                                  chat_constraint(self.response_format, tools, self.tool_choice))


class CompletionRequest(_Generation):
    """Legacy text completion. The Backend protocol only speaks chat, so the prompt is sent as a
    single user message (and formatted by the model's chat template); it is not raw continuation."""

    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None

    def prompt_text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise ApiError(400, "only one prompt per request is supported", param="prompt")
            return self.prompt[0]
        return self.prompt

    def to_chat_request(self, cap: int) -> ChatRequest:
        if self.suffix:
            raise ApiError(400, "suffix (fill-in-the-middle) is not supported", param="suffix")
        return self._chat_request([{"role": "user", "content": self.prompt_text()}], cap, None, self.max_tokens)
