"""Parsing a model reply into tool actions, tolerant of what small models actually write.

Recognised, in this order, each consuming its span of the text:
1. SEARCH/REPLACE edit blocks (see `edits.py`);
2. ``<tool_call>{json}</tool_call>`` calls;
3. whole-file blocks: a path (``FILE: path``, ``### path``, ``**path**``, `` `path` `` or a
   ``path:`` line; a placeholder of the root before it, ``<workspace>/a.py``, is dropped) right
   before a fenced block, or a path in the fence's info string, or a
   prose line just above the block that names one file ("Create a file named `game.html`:")
   whose extension fits the block's language (never for shell blocks). A lone
   unnamed code block (or one named by a placeholder, ``FILE: <path>``; a fence of ``<language>``
   gets the language its code shows; the same block twice is one) is taken as the single
   file of its type the task names, else the single existing file of its type, or, in an empty
   workspace, as the file of its language (``index.html``, ``main.py``, …) when it is the only
   code in the reply; otherwise it is not saved (a snippet is not a file) and the model is told;
4. an unnamed fenced block that is exactly a JSON tool call (``{"name": …, "arguments": {…}}``).

Malformed pieces become error strings that go back to the model; parsing never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.chat import parse_tool_calls
from .edits import parse_edit_blocks
from .tools import TOOL_SPECS
from .workspace import ToolError

TOOL_NAMES = {spec["function"]["name"] for spec in TOOL_SPECS}


@dataclass
class Action:
    tool: str
    args: dict = field(default_factory=dict)


_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
_PATH = r"[\w./\-]+\.[A-Za-z0-9]{1,8}"
# a placeholder for the root copied into a path, `FILE: <workspace>/invoice.py`, names the file in the
# workspace (measured: read as "/invoice.py", outside it, two of three correct refactor candidates were lost)
_ROOT_PLACEHOLDER = r"(?:<[\w -]+>/)?"
_NAME_LINE = re.compile(
    r"(?:FILE:\s*|File:\s*|file:\s*|#{1,4}\s*(?:File:\s*)?|\*\*|`)?" + _ROOT_PLACEHOLDER + "(" + _PATH
    + r")(?:\*\*|`)?:?(?:\*\*)?\s*$"
)
_LANG_FILE = {"html": "index.html", "python": "main.py", "py": "main.py", "javascript": "script.js", "js": "script.js",
              "css": "style.css", "bash": None, "sh": None, "shell": None, "console": None, "text": None, "": None}
_EXT_OF = {"html": ".html", "python": ".py", "py": ".py", "javascript": ".js", "js": ".js", "css": ".css"}


def parse_reply(text: str, existing_files: list[str] | None = None,
                named_files: list[str] | None = None) -> tuple[list[Action], list[str]]:
    """`named_files`: the files the task names; a lone unnamed block goes to the one of its type."""
    actions: list[Action] = []
    errors: list[str] = []
    rest = text
    if "<<<<<<<" in text or ">>>>>>>" in text:
        try:
            for b in parse_edit_blocks(text):
                actions.append(Action("edit_file", {"path": b.path, "search": b.search, "replace": b.replace}))
        except ToolError as e:
            errors.append(str(e))
        rest = _strip_edit_blocks(rest)
    if "<tool_call>" in rest:
        _, calls, call_errors = parse_tool_calls(rest)
        actions += [Action(c.name, c.arguments) for c in calls]
        errors += call_errors
        rest = re.sub(r"<tool_call>.*?(?:</tool_call>|$)", "", rest, flags=re.S)
    actions += _file_blocks(rest, existing_files or [], named_files or [])
    return actions, errors


def _strip_edit_blocks(text: str) -> str:
    out = re.sub(r"<{5,9} ?SEARCH.*?>{5,9} ?REPLACE[^\n]*", "", text, flags=re.S)
    return out


def _file_blocks(text: str, existing: list[str], named: list[str]) -> list[Action]:
    found: list[Action] = []
    calls: list[Action] = []
    unnamed: list[tuple[str, str]] = []
    for m in _FENCE.finditer(text):
        info, body = m.group("info").strip(), m.group("body")
        lang = info.lower().split()[0] if info else ""
        if lang.startswith("<"):  # the prompt's ```<language> copied as it is: the code says which
            lang = _language_of(body)
        path = _path_from_info(info) or _path_before(text, m.start()) or _path_in_prose(text, m.start(), lang)
        if path:
            found.append(Action("write_file", {"path": path, "content": body}))
        elif (call := _fenced_call(body)) is not None:
            calls.append(call)
        else:
            unnamed.append((lang, body))
    code = [(lang, body) for lang, body in unnamed if _LANG_FILE.get(lang, "?") is not None and body.count("\n") >= 2]
    code = list(dict.fromkeys(code))  # the same file written twice ("… (updated)") is one file
    if not found and len(code) == 1:
        lang, body = code[0]
        ext = _EXT_OF.get(lang)
        same = [f for f in existing if ext and f.endswith(ext)]
        told = [f for f in named if ext and f.endswith(ext)]
        # the single file of that type the task names, else the single one in the workspace; a
        # default name only in a workspace without files, where a snippet cannot be meant as a
        # fragment of some other file (measured: "FILE: <path>" copied from the prompt, for csvsum.py)
        path = told[0] if len(told) == 1 else same[0] if len(same) == 1 else None if existing else _LANG_FILE.get(lang)
        if path and _is_tests(body) and not Path(path).name.startswith("test"):
            path = None  # tests are never guessed into a program's file (measured: they replaced inventory.py)
        if path:
            found.append(Action("write_file", {"path": path, "content": body}))
    return found + calls


def _language_of(code: str) -> str:
    """The language of a block whose fence names none usable, from its first lines ("" if unsure)."""
    head = code.lstrip()[:400].lower()
    if head.startswith(("<!doctype", "<html")):
        return "html"
    if re.search(r"^(?:def |class |import |from \S+ import |if __name__)", code, re.M):
        return "python"
    if re.search(r"^(?:function |const |let |document\.)", code, re.M):
        return "javascript"
    return ""


def _fenced_call(body: str) -> Action | None:
    """A tool call written as a bare JSON block, ``{"name": "run", "arguments": {...}}``, as small
    models do after a file block (measured: the json block also made the python block above it
    one of two unnamed blocks, so the file was not saved)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if isinstance(obj, dict) and set(obj) == {"name", "arguments"} and obj["name"] in TOOL_NAMES \
            and isinstance(obj["arguments"], dict):
        return Action(obj["name"], obj["arguments"])
    return None


def _is_tests(body: str) -> bool:
    return bool(re.search(r"^def test_\w*\(", body, re.M)) and ("import pytest" in body or "assert " in body)


def _path_from_info(info: str) -> str | None:
    for tok in re.split(r"[\s:]+", info):
        if re.fullmatch(_PATH, tok) and "." in tok and not tok.startswith("."):
            return tok
    return None


def _path_before(text: str, start: int) -> str | None:
    before = text[:start].rstrip("\n").rsplit("\n", 1)[-1].strip()
    m = _NAME_LINE.fullmatch(before)
    return m.group(1) if m else None


_PROSE_PATH = re.compile(r"(?:`|\*\*)(" + _PATH + r")(?:`|\*\*)|(" + _PATH + r")[:.]?\s*$")
_EXTS_OF_LANG = {"html": (".html", ".htm"), "python": (".py",), "py": (".py",), "javascript": (".js", ".mjs"),
                 "js": (".js", ".mjs"), "css": (".css",), "json": (".json",), "typescript": (".ts",), "ts": (".ts",),
                 "markdown": (".md",), "md": (".md",), "toml": (".toml",), "yaml": (".yaml", ".yml")}


def _path_in_prose(text: str, start: int, lang: str) -> str | None:
    """A file named in the sentence just above a block, as chatty models write:
    "Create a file named `snake.html` in the workspace root." The one named path must have an
    extension that fits the block's language; shell and unlabeled blocks never qualify."""
    exts = _EXTS_OF_LANG.get(lang)
    if not exts:
        return None
    lines = [ln for ln in text[:start].rstrip("\n").rsplit("\n", 3)[-3:] if ln.strip()]
    if not lines:
        return None
    names = {a or b for a, b in _PROSE_PATH.findall(lines[-1])}
    names = {n for n in names if n.lower().endswith(exts) and not n.startswith(".")}
    return names.pop() if len(names) == 1 else None
