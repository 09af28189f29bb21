"""OpenAI's structured-output and forced-tool fields as a grammar `Constraint` for the backend.

Chat: ``response_format`` ``{"type": "json_object"}`` / ``{"type": "json_schema", "json_schema":
{"schema": ...}}`` and ``tool_choice`` ``"required"`` / ``{"type": "function", "function":
{"name": ...}}``. Responses: ``text.format`` (``json_object`` / ``json_schema`` with ``schema``
beside ``type``) and ``tool_choice`` ``"required"`` / ``{"type": "function", "name": ...}``. A
forced tool call wins over a response format (the reply is then the call). A schema the grammar
cannot enforce is a 400 naming the keyword and where it is, with code ``unsupported_schema``.
"""

from __future__ import annotations

from typing import Any

from ..backends.base import Constraint
from ..engine import grammar as g
from .errors import ApiError


def _schema_error(e: g.SchemaUnsupported, param: str) -> ApiError:
    return ApiError(400, f"{param}: {e}", param=param, code="unsupported_schema")


def json_constraint(fmt: Any, param: str, schema_of) -> Constraint | None:
    """A constraint for a response format object; `schema_of(fmt)` finds its schema (the chat and
    Responses shapes keep it in different places). ``text`` / absent: none."""
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise ApiError(400, f"{param} must be an object", param=param)
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return Constraint(g.json_object_grammar(), "json_object", response_format={"type": "json_object"})
    if kind == "json_schema":
        schema, where, chat_shape = schema_of(fmt)
        if not isinstance(schema, dict):
            raise ApiError(400, f"{where} must be a JSON schema object", param=where)
        try:
            grammar = g.json_schema_grammar(schema)
        except g.SchemaUnsupported as e:
            raise _schema_error(e, where) from None
        return Constraint(grammar, "json_schema", response_format=chat_shape)
    raise ApiError(400, f"{param}.type must be text, json_object or json_schema, got {kind!r}", param=f"{param}.type")


def _chat_schema(fmt: dict) -> tuple[Any, str, dict]:
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise ApiError(400, "response_format.json_schema must be an object with a schema",
                       param="response_format.json_schema")
    return spec.get("schema"), "response_format.json_schema.schema", fmt


def _responses_schema(fmt: dict) -> tuple[Any, str, dict]:
    chat_shape = {"type": "json_schema", "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
    return fmt.get("schema"), "text.format.schema", chat_shape


def forced_tool(tools: list[dict] | None, choice: Any, param: str = "tool_choice") -> Constraint | None:
    """A constraint to one tool call when `choice` forces one (``"required"`` or a named function),
    over chat-shaped `tools`; None for ``auto`` / ``none`` / absent."""
    if choice is None or choice in ("auto", "none"):
        return None
    if choice == "required":
        if not tools:
            raise ApiError(400, 'tool_choice "required" needs tools', param=param)
        allowed, chat_choice = tools, "required"
    elif isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")  # chat shape / Responses shape
        if not isinstance(name, str) or not name:
            raise ApiError(400, "tool_choice names no function", param=param)
        allowed = [t for t in tools or [] if (t.get("function") or {}).get("name") == name]
        if not allowed:
            raise ApiError(400, f"tool_choice names {name!r}, which is not among the tools", param=param)
        chat_choice = {"type": "function", "function": {"name": name}}
    elif isinstance(choice, str):
        raise ApiError(400, f"tool_choice must be none, auto, required or a function, got {choice!r}", param=param)
    else:
        return None  # other shapes (e.g. allowed_tools): left to the model, as before
    pairs = [(t["function"]["name"], t["function"].get("parameters")) for t in allowed]
    try:
        grammar = g.tool_call_grammar(pairs)
    except g.SchemaUnsupported as e:
        raise _schema_error(e, "tools") from None
    return Constraint(grammar, "tool_call", tool_choice=chat_choice)


def chat_constraint(response_format: Any, tools: list[dict] | None, tool_choice: Any) -> Constraint | None:
    return forced_tool(tools, tool_choice) or json_constraint(response_format, "response_format", _chat_schema)


def responses_constraint(text: Any, tools: list[dict] | None, tool_choice: Any) -> Constraint | None:
    forced = forced_tool(tools, tool_choice)
    if forced is not None:
        return forced
    if text is None:
        return None
    if not isinstance(text, dict):
        raise ApiError(400, "text must be an object", param="text")
    return json_constraint(text.get("format"), "text.format", _responses_schema)
