"""Constrained decoding: the shape a reply must have, enforced token by token.

Owns two things. (1) The GBNF grammars the server asks for: any JSON object (`JSON_OBJECT`), a
JSON schema (`json_schema_grammar`, built on llama.cpp's own converter after a check that the
schema uses only what the grammar enforces; anything else raises `SchemaUnsupported` naming the
keyword and where it is), and one forced Qwen tool call (`tool_call_grammar`). (2) The grammar
state of one generation (`GrammarConstraint`), over llama.cpp's grammar sampler, which the token
loop and speculative verification use to choose tokens.

Choosing is cheap the way llama.cpp's common/sampling.cpp does it: the token is picked from the
unconstrained logits first and only that token is checked against the grammar (a one-entry
candidate array); only when the grammar rejects it is the grammar applied to the whole vocabulary
and the choice made again among the survivors. Greedy, this is exactly the argmax over the tokens
the grammar allows. Sampling, it is exactly the target distribution renormalised over the allowed
tokens (a rejected draw is redrawn from that renormalised distribution); top-k / top-p then apply
to the unconstrained logits first and to the allowed ones after a rejection, as in llama.cpp. End
of generation tokens are allowed only where the grammar is complete (the sampler itself checks).
"""

from __future__ import annotations

import ctypes
import json
import re
from typing import Any

import numpy as np

from ..errors import EngineError
from .llama import NativeHandle

# ---------------------------------------------------------------------------- grammars

# A JSON character that needs no escape; escapes as JSON writes them. llama.cpp's converter allows
# raw control characters in strings, which json.loads refuses, so its "char" rule is replaced.
_JSON_CHAR = r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
_JSON_SAFE_DOT = r'[^"\\\x7F\x00-\x1F]'  # a regex "." inside a JSON string
# Whitespace between tokens: none, a space, or a newline with some indentation (the converter's
# own rule allows one space only, so a model that pretty-prints is refused at every line break).
_JSON_SPACE = r'| " " | "\n" [ \t]{0,20}'

# keywords that only describe or name things: ignored
_ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
                "readOnly", "writeOnly", "strict", "discriminator"}
# keywords the grammar cannot enforce (the output could break them): refused
_UNSUPPORTED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "not", "if", "then", "else",
    "oneOf", "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired",
    "dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems", "uniqueItems", "contains",
    "minContains", "maxContains", "contentEncoding", "contentMediaType", "$dynamicRef", "$recursiveRef",
}
_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_FORMATS = {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
_HINTS = {"oneOf": " (use anyOf)", "minimum": " (numeric bounds are not enforced)",
          "maximum": " (numeric bounds are not enforced)", "exclusiveMinimum": " (numeric bounds are not enforced)",
          "exclusiveMaximum": " (numeric bounds are not enforced)"}
_MAX_REPEAT = 1000  # minItems / maxItems / minLength / maxLength above this are refused


class SchemaUnsupported(EngineError):
    """A JSON schema uses something the grammar cannot enforce; the message names it and where."""

    def __init__(self, feature: str, path: str, why: str = ""):
        self.feature, self.path = feature, path
        super().__init__(f"{feature} at {path} is not supported for constrained output{why}")


def json_object_grammar() -> str:
    """Any JSON object (response_format json_object): llama.cpp's own JSON grammar."""
    from llama_cpp.llama_grammar import JSON_GBNF

    return JSON_GBNF


def json_schema_grammar(schema: Any) -> str:
    """GBNF for values that validate against `schema`; `SchemaUnsupported` if it cannot be enforced."""
    if not isinstance(schema, dict):
        raise SchemaUnsupported("a schema that is not an object", "#")
    schema = _normalise(schema, "#", schema)
    converter = _converter()
    try:
        schema = converter.resolve_refs(schema, "input")
        converter.visit(schema, "")
    except SchemaUnsupported:
        raise
    except (AssertionError, ValueError, KeyError, TypeError, IndexError, RecursionError) as e:
        raise SchemaUnsupported("this schema", "#", f": the grammar converter failed ({e})") from None
    rules = converter._rules
    rules["space"] = _JSON_SPACE
    if "char" in rules:
        rules["char"] = _JSON_CHAR
    if "dot" in rules:
        rules["dot"] = _JSON_SAFE_DOT
    return converter.format_grammar()


def tool_call_grammar(tools: list[tuple[str, Any]]) -> str:
    """One Qwen tool call, ``<tool_call>\\n{"name": <a name>, "arguments": <its parameters>}\\n</tool_call>``,
    for (name, parameters schema) pairs; a missing schema allows any object."""
    if not tools:
        raise EngineError("a forced tool call needs at least one tool")
    rules, alts = [], []
    for i, (name, params) in enumerate(tools):
        try:
            args = json_schema_grammar(params if params not in (None, {}) else {"type": "object"})
        except SchemaUnsupported as e:
            raise SchemaUnsupported(e.feature, f"the parameters of tool {name!r}, {e.path}",
                                    str(e).split("constrained output", 1)[1]) from None
        rules.append(_prefix_rules(args, f"t{i}-"))
        head = json.dumps(name, ensure_ascii=False) + ', "arguments": '
        rules.append(f"call{i} ::= {_literal(head)} t{i}-root")
        alts.append(f"call{i}")
    head, tail = _literal('<tool_call>\n{"name": '), _literal("}\n</tool_call>")
    root = f"root ::= {head} ( {' | '.join(alts)} ) {tail}"
    return "\n".join([root, *rules]) + "\n"


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


_GBNF_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|\{[^}]*\}|#[^\n]*|[a-zA-Z0-9-]+|.', re.S)


def _prefix_rules(gbnf: str, prefix: str) -> str:
    """The grammar with every rule name prefixed (so several grammars can share one file)."""
    out = []
    for tok in _GBNF_TOKEN.findall(gbnf):
        out.append(prefix + tok if re.fullmatch(r"[a-zA-Z0-9-]+", tok) else tok)
    return "".join(out)


def _converter():
    from llama_cpp.llama_grammar import PRIMITIVE_RULES, RESERVED_NAMES, SchemaConverter

    class Converter(SchemaConverter):
        """llama.cpp's converter, with length and item-count bounds as native GBNF repetitions
        (its own expansion nests one group per allowed item)."""

        def visit(self, schema, name):
            kind = schema.get("type")
            rule_name = name + "-" if name in RESERVED_NAMES else name or "root"
            if kind == "string" and ("minLength" in schema or "maxLength" in schema) \
                    and not {"pattern", "format", "enum", "const", "$ref", "anyOf"} & schema.keys():
                char = self._add_primitive("char", PRIMITIVE_RULES["char"])
                rep = _repeat(schema.get("minLength", 0), schema.get("maxLength"))
                return self._add_rule(rule_name, f'"\\"" {char}{rep} "\\"" space')
            if kind == "array" and isinstance(schema.get("items"), dict) and "prefixItems" not in schema \
                    and ("minItems" in schema or "maxItems" in schema):
                item = self.visit(schema["items"], f"{name}{'-' if name else ''}item")
                lo, hi = schema.get("minItems", 0), schema.get("maxItems")
                if hi == 0:
                    body = ""
                elif lo > 0:
                    body = f'{item} ("," space {item}){_repeat(lo - 1, None if hi is None else hi - 1)}'
                else:
                    body = f'({item} ("," space {item}){_repeat(0, None if hi is None else hi - 1)})?'
                return self._add_rule(rule_name, f'"[" space {body} "]" space')
            return super().visit(schema, name)

    return Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _repeat(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{{{lo},}}"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def _normalise(schema: Any, path: str, root: dict) -> Any:
    """A copy of the schema in the subset the converter enforces faithfully, or SchemaUnsupported.

    Type lists and OpenAPI's ``nullable`` become anyOf; a one-element allOf is merged into its
    schema; patterns are rewritten into the syntax the converter reads (and must not let through
    characters a JSON string would have to escape).
    """
    if isinstance(schema, bool):
        if schema:
            return {}
        raise SchemaUnsupported("the schema false", path)
    if not isinstance(schema, dict):
        raise SchemaUnsupported(f"a schema of type {type(schema).__name__}", path)
    for key in schema:
        if key in _UNSUPPORTED:
            raise SchemaUnsupported(key, path, _HINTS.get(key, ""))
    s = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
    if "allOf" in s:
        parts = s.pop("allOf")
        if not isinstance(parts, list) or len(parts) != 1 or not isinstance(parts[0], dict) \
                or set(parts[0]) & set(s) - {"$defs", "definitions"}:
            raise SchemaUnsupported("allOf", path, " (only a single-element allOf is)")
        s = {**s, **parts[0]}
    if s.pop("nullable", False):
        kind = s.get("type")
        if isinstance(kind, str):
            s["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            s["type"] = [*kind, "null"]
    out: dict = {}
    for key in ("$defs", "definitions"):
        if key in s:
            defs = s[key]
            if not isinstance(defs, dict):
                raise SchemaUnsupported(key, path, " (must be an object)")
            out[key] = {k: _normalise(v, f"{path}/{key}/{k}", root) for k, v in defs.items()}
    kind = s.get("type")
    if isinstance(kind, list):
        if not kind or any(k not in _TYPES for k in kind):
            raise SchemaUnsupported(f"type {kind!r}", path)
        rest = {k: v for k, v in s.items() if k not in ("type", "$defs", "definitions")}
        if len(kind) == 1:
            s = {**rest, "type": kind[0]}
        else:
            branches = [_normalise(_for_type(rest, k), f"{path}(type {k})", root) for k in kind]
            return {**out, "anyOf": branches}
    elif kind is not None and kind not in _TYPES:
        raise SchemaUnsupported(f"type {kind!r}", path)
    if "$ref" in s:
        ref = s["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise SchemaUnsupported(f"$ref {ref!r}", path, " (only local references #/... are)")
        if set(s) - {"$ref", "$defs", "definitions"}:
            raise SchemaUnsupported("$ref with other keywords", path)
        return {**out, "$ref": ref}
    if "anyOf" in s:
        alts = s["anyOf"]
        if not isinstance(alts, list) or not alts:
            raise SchemaUnsupported("anyOf", path, " (must be a non-empty list)")
        if set(s) - {"anyOf", "$defs", "definitions"}:
            others = sorted(set(s) - {"anyOf", "$defs", "definitions"})
            raise SchemaUnsupported(f"anyOf next to {', '.join(others)}", path, " (put them inside each branch)")
        return {**out, "anyOf": [_normalise(a, f"{path}/anyOf/{i}", root) for i, a in enumerate(alts)]}
    if "enum" in s:
        values = s["enum"]
        if not isinstance(values, list) or not values:
            raise SchemaUnsupported("enum", path, " (must be a non-empty list)")
        if kind is not None:
            values = [v for v in values if _json_type(v) == kind or kind == "number" and _json_type(v) == "integer"]
            if not values:
                raise SchemaUnsupported(f"an enum with no value of type {kind!r}", path)
        return {**out, "enum": values}
    if "const" in s:
        return {**out, "const": s["const"]}
    if "properties" in s or "required" in s or "additionalProperties" in s:
        if kind not in (None, "object"):
            raise SchemaUnsupported(f"object keywords on type {kind!r}", path)
        props = s.get("properties") or {}
        if not isinstance(props, dict):
            raise SchemaUnsupported("properties", path, " (must be an object)")
        required = s.get("required") or []
        missing = [r for r in required if r not in props]
        if missing:
            raise SchemaUnsupported(f"required property {missing[0]!r} without a schema in properties", path)
        o = {**out, "type": "object", "properties": {k: _normalise(v, f"{path}/properties/{k}", root)
                                                     for k, v in props.items()}, "required": list(required)}
        extra = s.get("additionalProperties", False)
        if extra is True:
            o["additionalProperties"] = True
        elif isinstance(extra, dict):
            o["additionalProperties"] = _normalise(extra, f"{path}/additionalProperties", root)
        else:
            o["additionalProperties"] = False
        return o
    if kind == "array" or "items" in s or "prefixItems" in s:
        o = {**out, "type": "array"}
        lo, hi = s.get("minItems", 0), s.get("maxItems")
        _check_bounds(lo, hi, "minItems", "maxItems", path)
        if "prefixItems" in s or isinstance(s.get("items"), list):
            tup = s.get("prefixItems", s.get("items"))
            if not isinstance(tup, list):
                raise SchemaUnsupported("prefixItems", path, " (must be a list)")
            if "prefixItems" in s and s.get("items") not in (None, False):
                raise SchemaUnsupported("items after prefixItems", path)
            if "minItems" in s or "maxItems" in s:
                raise SchemaUnsupported("minItems/maxItems with a tuple", path)
            o["prefixItems"] = [_normalise(x, f"{path}/prefixItems/{i}", root) for i, x in enumerate(tup)]
            return o
        o["items"] = _normalise(s.get("items", True), f"{path}/items", root)
        if "minItems" in s:
            o["minItems"] = lo
        if hi is not None:
            o["maxItems"] = hi
        return o
    if kind == "string":
        o = {**out, "type": "string"}
        given = [k for k in ("pattern", "format", "minLength") if k in s] + (["maxLength"] if "maxLength" in s else [])
        if "pattern" in s and len(given) > 1 or "format" in s and len(given) > 1:
            raise SchemaUnsupported(" together with ".join(given), path, " (use one of them)")
        if "format" in s:
            if s["format"] not in _FORMATS:
                raise SchemaUnsupported(f"format {s['format']!r}", path,
                                        f" (supported: {', '.join(sorted(_FORMATS))})")
            o["format"] = s["format"]
        elif "pattern" in s:
            o["pattern"] = _pattern(s["pattern"], path)
        else:
            lo, hi = s.get("minLength", 0), s.get("maxLength")
            _check_bounds(lo, hi, "minLength", "maxLength", path)
            if "minLength" in s:
                o["minLength"] = lo
            if hi is not None:
                o["maxLength"] = hi
        return o
    if kind == "object" or kind is None:
        return {**out, "type": "object"} if kind == "object" else {**out}
    return {**out, "type": kind}


def _for_type(rest: dict, kind: str) -> dict:
    """The keywords of a multi-type schema that apply to one of its types."""
    by_type = {"object": {"properties", "required", "additionalProperties"},
               "array": {"items", "prefixItems", "minItems", "maxItems"},
               "string": {"pattern", "format", "minLength", "maxLength"}}
    specific = set().union(*by_type.values())
    keep = {k: v for k, v in rest.items() if k not in specific or k in by_type.get(kind, ())}
    if "enum" in keep:
        keep["enum"] = [v for v in keep["enum"] if _json_type(v) in (kind, "integer" if kind == "number" else kind)]
    return {**keep, "type": kind}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "?")


def _check_bounds(lo: Any, hi: Any, lo_name: str, hi_name: str, path: str) -> None:
    for name, v in ((lo_name, lo), (hi_name, hi)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise SchemaUnsupported(f"{name} {v!r}", path, " (must be a non-negative integer)")
        if v is not None and v > _MAX_REPEAT:
            raise SchemaUnsupported(f"{name} {v}", path, f" (at most {_MAX_REPEAT})")
    if hi is not None and lo > hi:
        raise SchemaUnsupported(f"{lo_name} > {hi_name}", path)


_PATTERN_CLASS_ESC = {"d": "0-9", "w": "a-zA-Z0-9_"}


def _pattern(p: Any, path: str) -> str:
    """The pattern rewritten for llama.cpp's converter: anchored (an unanchored end gets ``.*``),
    ``\\d`` / ``\\w`` as classes, escaped punctuation as hex, ``(?:`` as ``(``. Refused: what would
    need escaping inside a JSON string (quotes, backslashes, control characters, ``\\s``), negated
    classes, lookarounds and other escapes."""
    where = f"{path}/pattern"
    if not isinstance(p, str):
        raise SchemaUnsupported("pattern", where, " (must be a string)")
    body = p
    start, end = body.startswith("^"), body.endswith("$") and not body.endswith("\\$")
    body = body[1 if start else 0: len(body) - (1 if end else 0)]
    out, i, in_class = [], 0, False
    while i < len(body):
        c = body[i]
        if ord(c) < 0x20 or c in '"\x7f':
            raise SchemaUnsupported(f"pattern {p!r}", where, " (quotes and control characters are not)")
        if c == "\\":
            nxt = body[i + 1: i + 2]
            if nxt in _PATTERN_CLASS_ESC:
                out.append(_PATTERN_CLASS_ESC[nxt] if in_class else f"[{_PATTERN_CLASS_ESC[nxt]}]")
            elif nxt and not nxt.isalnum() and nxt not in '\\"' and nxt.isascii() and ord(nxt) >= 0x20:
                hexed = f"\\x{ord(nxt):02X}"
                out.append(hexed if in_class else f"[{hexed}]")
            else:
                raise SchemaUnsupported(f"the escape \\{nxt} in pattern {p!r}", where)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            if body[i + 1: i + 2] == "^":
                raise SchemaUnsupported(f"a negated class in pattern {p!r}", where)
            in_class = True
            out.append(c)
            if body[i + 1: i + 2] == "]":  # a literal ] first in the class
                out.append("\\]")
                i += 1
        elif c == "(" and body[i + 1: i + 2] == "?":
            if body[i + 2: i + 3] != ":":
                raise SchemaUnsupported(f"lookarounds and named groups in pattern {p!r}", where)
            out.append("(")
            i += 3
            continue
        elif c in "^$":
            raise SchemaUnsupported(f"an anchor inside pattern {p!r}", where)
        else:
            out.append(c)
        i += 1
    if in_class:
        raise SchemaUnsupported(f"pattern {p!r}", where, " (an unclosed [)")
    inner = "".join(out)
    if not start or not end:
        inner = ("" if start else ".*") + f"({inner})" + ("" if end else ".*")
    return f"^{inner}$"


# ---------------------------------------------------------------------------- the grammar state

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class GrammarConstraint(NativeHandle):
    """One generation's grammar state over llama.cpp's grammar sampler.

    `choose` picks the next token (without advancing the grammar); `accept` advances it by a
    chosen token. Every token accepted must have been allowed: llama.cpp aborts the process on a
    token its grammar cannot take, so callers accept only what `choose` returned (or an equal
    guess). End-of-generation tokens are not accepted (the generation ends there).
    """

    def __init__(self, model, gbnf: str):
        import llama_cpp as C

        self._C = C
        self.ptr = C.llama_sampler_init_grammar(model.vocab, gbnf.encode("utf-8"), b"root")
        if not self.ptr:
            raise EngineError("llama.cpp could not parse the grammar (set SPARKCODE_LLAMA_LOG=1 to see why)")
        self.eog = model.eog
        n = model.n_vocab
        self._all = np.zeros(n, dtype=_TOKEN_DATA)
        self._all["id"] = np.arange(n, dtype=np.int32)
        self._all_arr = C.llama_token_data_array(
            data=ctypes.cast(self._all.ctypes.data, C.llama_token_data_p), size=n, selected=-1, sorted=False)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        self._one_arr = C.llama_token_data_array(
            data=ctypes.cast(self._one.ctypes.data, C.llama_token_data_p), size=1, selected=-1, sorted=False)
        self.checks = 0  # one-token checks
        self.full = 0  # whole-vocabulary applications (after a rejected pick)

    def allows(self, token: int) -> bool:
        self.checks += 1
        self._one[0] = (token, 0.0, 0.0)
        self._one_arr.size, self._one_arr.selected = 1, -1
        self._C.llama_sampler_apply(self.ptr, ctypes.byref(self._one_arr))
        return bool(np.isfinite(self._one["logit"][0]))

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """A copy of the logits with every token the grammar forbids here at -inf."""
        self.full += 1
        self._all["logit"] = logits
        self._all_arr.size, self._all_arr.selected, self._all_arr.sorted = len(self._all), -1, False
        self._C.llama_sampler_apply(self.ptr, ctypes.byref(self._all_arr))
        return np.array(self._all["logit"])

    def choose(self, logits: np.ndarray, sampler) -> int:
        tok = sampler.sample(logits)
        if self.allows(tok):
            return tok
        masked = self.mask(logits)
        if not np.isfinite(masked).any():
            raise EngineError("the grammar allows no token here (no token of the vocabulary continues the output)")
        return sampler.sample(masked)

    def accept(self, token: int) -> None:
        if token not in self.eog:
            self._C.llama_sampler_accept(self.ptr, int(token))

    def _free(self) -> None:
        self._C.llama_sampler_free(self.ptr)
