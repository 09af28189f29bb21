"""The agent's tools: their OpenAI function specs, and the dispatcher that runs a call.

`Toolbox.call` never raises: an unknown tool, a missing or mistyped argument, and every
refusal from the workspace become a `ToolResult` with ``ok=False`` and a short message the model
can act on. Outputs are capped (~8k characters, head and tail kept) to keep the context small.

For ``run``, ``ok`` means the command exited 0 (its output comes back either way), and
``changed_files`` is empty: what a command changed is not tracked here (checkpoints see it).
In "full" mode commands run without the sandbox (the user's environment, no resource limits);
in "read-only" mode ``run``, ``write_file`` and ``edit_file`` are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .merge import restore_dropped
from .names import code_key
from .edits import EditBlock, EditMatchError, apply_edit_verbose, parse_edit_blocks, unified_diff
from .shell import run_command
from .workspace import ToolError, Workspace

MAX_OUTPUT = 8000
MAX_COMMAND_TIMEOUT = 600
MAX_EDIT_BYTES = 2 << 20


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}}


_PATH = {"type": "string", "description": "File path relative to the workspace root"}

TOOL_SPECS: list[dict] = [
    _tool("list_files", "List the files of the workspace (relative paths).", {}, []),
    _tool("read_file", "Read a text file, optionally only lines start_line..end_line (1-based, inclusive).",
          {"path": _PATH, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}, ["path"]),
    _tool("write_file", "Create or overwrite a file with the given content.",
          {"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
    _tool("edit_file",
          "Replace an exact piece of a file: `search` must match existing lines exactly once; "
          "empty `search` appends. Alternatively pass `edits`: one or more blocks of the form\n"
          "path\n<<<<<<< SEARCH\nold lines\n=======\nnew lines\n>>>>>>> REPLACE",
          {"path": _PATH, "search": {"type": "string"}, "replace": {"type": "string"},
           "edits": {"type": "string"}}, []),
    _tool("search", "Search the workspace's text files for a regular expression (like ripgrep): "
          "file:line: text for each match. `glob` limits it to matching paths, e.g. *.py.",
          {"pattern": {"type": "string"}, "glob": {"type": "string"}}, ["pattern"]),
    _tool("run", "Run a shell command in the workspace root and return its exit code and output.",
          {"command": {"type": "string"},
           "timeout": {"type": "integer", "description": "Seconds before the command is killed"}}, ["command"]),
    _tool("finish", "Stop: the task is done (or cannot be done). Summarize what changed.",
          {"summary": {"type": "string"}}, ["summary"]),
]
_SPECS = {s["function"]["name"]: s["function"]["parameters"] for s in TOOL_SPECS}
_WRITE_TOOLS = ("write_file", "edit_file", "run")
_ALIASES = {"file_path": "path", "filename": "path", "file": "path", "filepath": "path",
            "contents": "content", "text": "content", "cmd": "command",
            "regex": "pattern", "query": "pattern", "old": "search", "new": "replace", "old_str": "search", "new_str": "replace"}


@dataclass
class ToolResult:
    ok: bool
    output: str
    changed_files: list[str] = field(default_factory=list)
    diff: str | None = None
    finished: bool = False


def cap(text: str, limit: int = MAX_OUTPUT) -> str:
    """`text` cut to about `limit` characters, keeping the head and the tail."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head - 60
    return f"{text[:head]}\n… [{len(text) - head - tail} characters cut] …\n{text[-tail:]}"


def _validate(name: str, arguments: object) -> dict:
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            raise ToolError(f"arguments are not valid JSON ({e.msg})") from e
    if not isinstance(arguments, dict):
        raise ToolError(f"arguments must be an object, got {type(arguments).__name__}")
    schema = _SPECS[name]
    props = schema["properties"]
    args: dict = {}
    for key, value in arguments.items():
        key = key if key in props else _ALIASES.get(key, key)
        if key in props and key not in args:
            args[key] = value
    for key in schema["required"]:
        if args.get(key) is None:
            unknown = sorted(set(arguments) - set(props) - set(_ALIASES))
            got = f" (got {', '.join(unknown)})" if unknown else ""
            raise ToolError(f"missing required argument '{key}'{got}")
    out = {}
    for key, value in args.items():
        if value is None:
            continue
        kind = props[key]["type"]
        if kind == "integer":
            out[key] = _as_int(key, value)
        elif kind == "string":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ToolError(f"'{key}' must be a string, got {type(value).__name__}")
            out[key] = value
    return out


def _as_int(key: str, value: object) -> int:
    if isinstance(value, bool):
        raise ToolError(f"'{key}' must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ToolError(f"'{key}' must be an integer, got {value!r}")


class Toolbox:
    def __init__(self, workspace: Workspace, command_timeout: float = 30, max_output: int = MAX_OUTPUT,
                 may_drop: Callable[[str], bool] | None = None):
        self.workspace = workspace
        self.command_timeout = command_timeout
        self.max_output = max_output
        # set (per task): a whole-file rewrite of a .py file keeps the public definitions it left
        # out unless may_drop(name) — see merge.py; None: files are written as given
        self.may_drop = may_drop

    def specs(self) -> list[dict]:
        """The tool specs this workspace's mode allows (read-only drops write and run)."""
        if self.workspace.mode == "read-only":
            return [s for s in TOOL_SPECS if s["function"]["name"] not in _WRITE_TOOLS]
        return list(TOOL_SPECS)

    def call(self, name: str, arguments: object) -> ToolResult:
        """Run one tool call; never raises."""
        handler = getattr(self, f"_t_{name}", None) if isinstance(name, str) and name in _SPECS else None
        if handler is None:
            return ToolResult(False, f"unknown tool {name!r}; available: {', '.join(_SPECS)}")
        try:
            result = handler(**_validate(name, arguments))
        except ToolError as e:
            return ToolResult(False, cap(f"{name}: {e}", self.max_output))
        except Exception as e:  # a bug or an OS surprise must not kill the agent loop
            return ToolResult(False, cap(f"{name} failed: {type(e).__name__}: {e}", self.max_output))
        result.output = cap(result.output, self.max_output)
        return result

    # ---- the tools --------------------------------------------------------------------------

    def _t_list_files(self) -> ToolResult:
        files = self.workspace.list_files()
        if not files:
            return ToolResult(True, "(the workspace has no files)")
        head = f"{files.total} files" + (f" (showing {len(files)})" if files.truncated else "")
        return ToolResult(True, head + "\n" + "\n".join(files))

    def _t_read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> ToolResult:
        text = self.workspace.read_text(path, start_line, end_line, max_bytes=max(self.max_output - 200, 500))
        return ToolResult(True, text if text else "(empty file)")

    def _t_search(self, pattern: str, glob: str | None = None) -> ToolResult:
        hits = self.workspace.search(pattern, glob)
        if not hits:
            return ToolResult(True, f"no match for {pattern!r}" + (f" in {glob}" if glob else ""))
        return ToolResult(True, "\n".join(f"{p}:{n}: {line}" for p, n, line in hits))

    def _t_write_file(self, path: str, content: str) -> ToolResult:
        real = self.workspace.resolve(path, for_write=True)
        rel = self.workspace.relpath(real)
        old = _read_for_edit(real, rel) if real.is_file() else None
        kept: list[str] = []
        if old is not None and self.may_drop is not None and rel.endswith(".py"):
            content, kept = restore_dropped(old, content, self.may_drop)
        note = (f"; kept {', '.join(kept)} from the old file (your version left {'it' if len(kept) == 1 else 'them'} "
                "out; remove a function only when the task asks)") if kept else ""
        if old == content:
            return ToolResult(True, f"{rel} already has this content; nothing written{note}")
        self.workspace.write_text(path, content)
        diff = unified_diff(old or "", content, rel)
        if old is not None and code_key(rel, old) == code_key(rel, content):
            return ToolResult(True, f"wrote {rel}: only comments or layout changed, the code is the same{note}", [], diff)
        verb = "created" if old is None else "wrote"
        return ToolResult(True, f"{verb} {rel} ({_count_lines(content)} lines, {_stat(diff)}){note}", [rel], diff)

    def _t_edit_file(self, path: str | None = None, search: str | None = None, replace: str | None = None,
                     edits: str | None = None) -> ToolResult:
        if edits is not None and edits.strip():
            blocks = parse_edit_blocks(edits, default_path=path)
            if not blocks:
                raise ToolError("no SEARCH/REPLACE blocks found in 'edits' (expected path, then "
                                "'<<<<<<< SEARCH', old lines, '=======', new lines, '>>>>>>> REPLACE')")
        else:
            missing = [k for k, v in (("path", path), ("search", search), ("replace", replace)) if v is None]
            if missing:
                raise ToolError(f"missing argument(s) {', '.join(missing)}: pass path, search and replace, "
                                "or 'edits' with SEARCH/REPLACE blocks")
            blocks = [EditBlock(path, search, replace)]
        files: dict[Path, list] = {}  # real path -> [rel, old text or None, new text, strategies]
        for n, block in enumerate(blocks, 1):
            real = self.workspace.resolve(block.path, for_write=True)
            rel = self.workspace.relpath(real)
            if real not in files:
                old = _read_for_edit(real, rel) if real.exists() else None
                files[real] = [rel, old, old or "", []]
            entry = files[real]
            where = f"{rel}" if len(blocks) == 1 else f"block {n} ({rel})"
            if entry[1] is None and entry[2] == "" and block.search.strip():
                raise ToolError(f"{where}: no such file; create it with write_file or an empty SEARCH")
            try:
                entry[2], how = apply_edit_verbose(entry[2], block.search, block.replace)
            except EditMatchError as e:
                applied = "" if n == 1 else " (no block was applied)"
                raise EditMatchError(f"{where}: {e}{applied}") from e
            entry[3].append(how)
        changed, diffs, lines = [], [], []
        for real, (rel, old, new, hows) in files.items():
            if old is not None and new == old:
                lines.append(f"{rel}: no change (REPLACE equals SEARCH)")
                continue
            self.workspace.write_text(rel, new)
            diff = unified_diff(old or "", new, rel)
            diffs.append(diff)
            if old is not None and code_key(rel, old) == code_key(rel, new):
                lines.append(f"edited {rel}: only comments or layout changed, the code is the same")
                continue
            changed.append(rel)
            matched = ", ".join(sorted(set(h for h in hows if h != "exact")))
            note = f"; matched by {matched}" if matched else ""
            lines.append(f"{'created' if old is None else 'edited'} {rel} ({_stat(diff)}{note})")
        if not changed and not diffs:
            return ToolResult(False, "; ".join(lines) or "nothing to change")
        return ToolResult(True, "\n".join(lines), changed, "".join(diffs))

    def _t_run(self, command: str, timeout: int | None = None) -> ToolResult:
        if not self.workspace.can_run:
            raise ToolError("commands are not allowed in read-only mode")
        if not command.strip():
            raise ToolError("'command' is empty")
        limit = self.command_timeout if timeout is None else min(max(timeout, 1), MAX_COMMAND_TIMEOUT)
        r = run_command(command, self.workspace.root, timeout=limit, max_output=max(self.max_output - 300, 500),
                        sandbox=self.workspace.mode != "full")
        status = "timed out" if r.timed_out else f"exit code {r.exit_code}"
        body = r.output if r.output.strip() else "(no output)"
        return ToolResult(r.ok, f"{status} ({r.duration_s:.1f}s)\n{body}")

    def _t_finish(self, summary: str) -> ToolResult:
        return ToolResult(True, summary, finished=True)


def _read_for_edit(real: Path, rel: str) -> str:
    """A file's exact text (line endings kept) for editing, or ToolError."""
    try:
        size = real.stat().st_size
        if size > MAX_EDIT_BYTES:
            raise ToolError(f"{rel} is too large to edit ({size} bytes); edit it with a command")
        data = real.read_bytes()
    except OSError as e:
        raise ToolError(f"cannot read {rel}: {e.strerror}") from e
    if b"\0" in data[:8192]:
        raise ToolError(f"{rel} is a binary file; refusing to edit it as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ToolError(f"{rel} is not UTF-8 text (bad byte at offset {e.start}); refusing to edit it") from e


def _count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _stat(diff: str) -> str:
    plus = sum(1 for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++"))
    minus = sum(1 for x in diff.splitlines() if x.startswith("-") and not x.startswith("---"))
    return f"+{plus} -{minus}"
