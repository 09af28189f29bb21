"""Chat formatting from the GGUF's own Jinja chat template, and tool-call parsing.

The template is rendered in a sandboxed Jinja environment (templates are model data, not
code we trust). Qwen2.5 templates advertise tools in the system prompt and the model answers
with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; `parse_tool_calls` turns such
text back into OpenAI-shaped calls for the server and the agent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import EngineError

# Used only when a GGUF carries no template: ChatML, which both registry families speak.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ChatFormatter:
    def __init__(self, template: str | None, bos_token: str = "", eos_token: str = ""):
        self.source = template or CHATML
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = lambda v, indent=None, **_: json.dumps(v, indent=indent, ensure_ascii=False)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: date.today().strftime(fmt)
        self.template = env.from_string(self.source)
        self.bos_token, self.eos_token = bos_token, eos_token

    def render(self, messages: list[dict], tools: list[dict] | None = None, add_generation_prompt: bool = True) -> str:
        _check_messages(messages)
        messages = [_decode_tool_arguments(m) for m in messages]
        try:
            return self.template.render(messages=messages, tools=tools or None, add_generation_prompt=add_generation_prompt,
                                        bos_token=self.bos_token, eos_token=self.eos_token)
        except TemplateError as e:
            raise EngineError(f"chat template failed: {e}") from e


def _decode_tool_arguments(m: dict) -> dict:
    """OpenAI clients send tool-call arguments as a JSON string; templates expect an object."""
    calls = m.get("tool_calls")
    if not calls:
        return m
    fixed = []
    for c in calls:
        fn = dict(c.get("function") or {})
        if isinstance(fn.get("arguments"), str):
            try:
                fn["arguments"] = json.loads(fn["arguments"])
            except json.JSONDecodeError:
                pass
        fixed.append({**c, "function": fn})
    return {**m, "tool_calls": fixed}


def _raise(msg: str):
    raise TemplateError(msg)


def _check_messages(messages: list[dict]) -> None:
    if not isinstance(messages, list) or not messages:
        raise EngineError("messages must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            raise EngineError(f"messages[{i}] needs a role of system, user, assistant or tool")
        if m.get("content") is None and not m.get("tool_calls"):
            raise EngineError(f"messages[{i}] has no content")


@dataclass
class ToolCall:
    name: str
    arguments: dict
    id: str = ""

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


_TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall], list[str]]:
    """Split model text into (plain content, tool calls, errors for malformed calls)."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    for n, m in enumerate(_TOOL_CALL_RE.finditer(text)):
        body = m.group(1).strip()
        body = re.sub(r"^```(?:json)?\s*|\s*```$", "", body)
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as e:
            errors.append(f"tool call {n + 1} is not valid JSON ({e.msg} at char {e.pos})")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            errors.append(f"tool call {n + 1} needs a string \"name\"")
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = {"input": args}
        if not isinstance(args, dict):
            errors.append(f"tool call {n + 1}: \"arguments\" must be an object")
            continue
        calls.append(ToolCall(obj["name"], args, id=f"call_{n}"))
    content = _TOOL_CALL_RE.sub("", text).strip() if (calls or errors) else text
    return content, calls, errors
