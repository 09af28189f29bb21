"""Tool calls a small model can make: calls to declared functions found where the model put them.

Qwen's chat template asks for ``<tool_call>{...}</tool_call>`` (parsed in engine/chat.py). Small
models often answer otherwise: a reply that is nothing but the JSON object (``bare_tool_calls``),
or the object in a fenced ```` ```json ```` block amid text (``fenced_tool_calls``; measured: the
1.5B under Codex CLI wrote its ``create_file`` call so, and llama-server passed it on as text, so
nothing was created). Either is taken as a call only when it names a declared function and its
arguments fit that function's parameter schema (`fits_schema`: required properties there, types
of the properties right, no unknown ones where the schema forbids them) — JSON that merely looks
like a call (an example in an explanation) stays text.
"""

from __future__ import annotations

import json
import re

from ..engine.chat import ToolCall

FENCE = "```"
CALL_FENCE_INFO = ("", "json", "JSON")  # the info strings of a fenced block that may hold a call
_FENCED = re.compile(r"```(?:" + "|".join(i for i in CALL_FENCE_INFO if i) + r")?[ \t]*\n(.*?)\n?[ \t]*```", re.S)
_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
          "object": (dict,), "null": (type(None),)}


def declared_tools(tools: list[dict] | None) -> dict[str, dict]:
    """Each declared function's name and its parameter schema ({} when it has none)."""
    out = {}
    for t in tools or ():
        fn = t.get("function") or {}
        if isinstance(fn.get("name"), str):
            out[fn["name"]] = fn.get("parameters") or {}
    return out


def fits_schema(args: dict, schema: dict) -> bool:
    """Whether `args` fit a function's parameter schema at the top level: required properties
    present, each declared property of its declared type(s), no others if additionalProperties
    is false. (Deeper structure is the client's to judge.)"""
    if not isinstance(args, dict):
        return False
    props = schema.get("properties") or {}
    if any(name not in args for name in schema.get("required") or ()):
        return False
    if schema.get("additionalProperties") is False and any(k not in props for k in args):
        return False
    for k, v in args.items():
        want = (props.get(k) or {}).get("type")
        kinds = [want] if isinstance(want, str) else want if isinstance(want, list) else []
        ok = [_TYPES[t] for t in kinds if t in _TYPES]
        if ok and not any(isinstance(v, t) and not (isinstance(v, bool) and bool not in t) for t in ok):
            return False
    return True


def _call(obj, declared: dict[str, dict]) -> ToolCall | None:
    """The object as a call to a declared function, or None."""
    if not isinstance(obj, dict) or obj.get("name") not in declared:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not fits_schema(args, declared[obj["name"]]):
        return None
    return ToolCall(obj["name"], args)


def _objects(text: str) -> list | None:
    """The JSON values `text` consists of, one after another (whitespace between), or None."""
    decoder, out, i = json.JSONDecoder(), [], 0
    text = text.strip()
    while i < len(text):
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return None
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def bare_tool_calls(text: str, declared: dict[str, dict]) -> list[ToolCall]:
    """Calls written without the tags: a reply that is nothing but one or more call objects
    (or a list of them)."""
    objs = _objects(text)
    if objs and len(objs) == 1 and isinstance(objs[0], list):
        objs = objs[0]
    calls = [_call(o, declared) for o in objs or ()]
    return calls if calls and all(calls) else []


def fenced_tool_calls(text: str, declared: dict[str, dict]) -> tuple[str, list[ToolCall]]:
    """(the text without the blocks that were calls, the calls): fenced blocks holding nothing but
    call objects to declared functions."""
    calls: list[ToolCall] = []
    kept: list[str] = []
    last = 0
    for m in _FENCED.finditer(text):
        found = bare_tool_calls(m.group(1), declared)
        if found:
            calls += found
            kept.append(text[last:m.start()])
            last = m.end()
    if not calls:
        return text, []
    kept.append(text[last:])
    return re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip(), calls
