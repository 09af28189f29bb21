"""The public names of a workspace's Python code, read with `ast` (nothing is imported or run).

One reading serves two verifiers: the API guard (public functions, classes and methods that
existed before a change must still exist unless the task names them) and the acceptance-test
writer, which sees these names and signatures — never the code's bodies. It also reads the task
statement for the names it allows to go ("rename X to Y", "remove X"): one judge for the guard
and for the merge of whole-file rewrites (merge.py). For scripts, `js_definition` is the one
pattern that says where a JavaScript name is defined (leaks.py, checks.py).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterator

from .workspace import Workspace


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")  # a number as a program prints it or a page shows it ("-3", "21.75")
JS_RESERVED = frozenset("""break case catch class const continue debugger default delete do else export extends
false finally for function if import in instanceof let new null return super switch this throw true try typeof var
void while with yield await async of undefined""".split())


def js_definition(name: str) -> str:
    """A regex matching a JavaScript definition of `name`: a function, class or declaration, an
    assignment or property (``name = …``, ``name: …``), a method (``name(…) {``)."""
    name = re.escape(name)
    return (rf"(function\s*\*?\s*{name}\b|\bclass\s+{name}\b|\b(var|let|const)\s+{name}\b|\b{name}\s*[:=][^=]"
            rf"|\b{name}\s*\([^)]*\)\s*\{{)")


def code_key(rel: str, text: str) -> str:
    """What of a file counts as its code: a Python file's syntax tree (comments and layout are not
    code), any other file's text. One judge for "the same code again" (tools, the stuck detector,
    candidates) and for what counts as a new version of the code (acceptance.fingerprint)."""
    if rel.endswith(".py"):
        try:
            return ast.dump(ast.parse(text))
        except (SyntaxError, ValueError):
            pass
    return text


@dataclass(frozen=True)
class Name:
    path: str
    qualname: str  # "func", "Class", "Class.method"
    signature: str  # "def func(a, b=1)", "class Class(Base)"


def parsed_python(ws: Workspace, rels) -> Iterator[tuple[str, str, ast.Module]]:
    """(path, text, tree) of each .py file among `rels` that reads and parses, each once."""
    for rel in dict.fromkeys(rels):
        if not rel.endswith(".py"):
            continue
        try:
            text = (ws.root / rel).read_text(errors="replace")
            tree = ast.parse(text)
        except (SyntaxError, ValueError, OSError):
            continue
        yield rel, text, tree


def python_names(ws: Workspace) -> list[Name]:
    """Public top-level functions and classes, and public methods of those classes, of every
    parseable .py file in the workspace (a file that does not parse contributes nothing)."""
    out: list[Name] = []
    for rel, _, tree in parsed_python(ws, ws.list_files()):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
                out.append(Name(rel, node.name, _def(node)))
            elif isinstance(node, ast.ClassDef) and _public(node.name):
                bases = ", ".join(ast.unparse(b) for b in node.bases)
                out.append(Name(rel, node.name, f"class {node.name}" + (f"({bases})" if bases else "")))
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                            _public(item.name) or item.name == "__init__"):
                        out.append(Name(rel, f"{node.name}.{item.name}", "    " + _def(item)))
    return out


def is_cli(ws: Workspace, rel: str) -> bool:
    """A .py file that runs as a program (a ``__main__`` guard or argparse)."""
    try:
        text = (ws.root / rel).read_text(errors="replace")
    except OSError:
        return False
    return "__main__" in text or "argparse" in text or "sys.argv" in text


def outline(ws: Workspace) -> str:
    """Files and their public names with signatures, for a reader who must not see the code."""
    names = python_names(ws)
    by_file: dict[str, list[str]] = {}
    for n in names:
        by_file.setdefault(n.path, []).append(n.signature)
    lines = []
    for rel in ws.list_files():
        if rel.endswith(".py"):
            cli = " (runs as a program: python " + rel + " ...)" if is_cli(ws, rel) else ""
            lines.append(f"{rel}{cli}")
            lines += [f"    {s}" for s in by_file.get(rel, [])]
        elif rel.endswith((".html", ".htm")):
            lines.append(f"{rel} (a page: open_page({rel!r}))")
            lines += [f"    {e}" for e in page_elements(ws, rel)]
        elif not _is_state(rel):
            lines.append(rel)
    return "\n".join(lines) or "(no files)"


_ID_TAG = re.compile(r"<(\w+)\b[^>]*?(?<![\w-])id\s*=\s*[\"']([\w:.-]*\w)[\"']", re.I)


def page_elements(ws: Workspace, rel: str, limit: int = 40) -> list[str]:
    """A page's elements that have an id, as `#id (tag)`: its names, without its code."""
    try:
        text = (ws.root / rel).read_text(errors="replace")
    except OSError:
        return []
    return [f"#{i} ({tag.lower()})" for tag, i in dict.fromkeys(_ID_TAG.findall(text))][:limit]


def _is_state(rel: str) -> bool:
    return rel.startswith(".sparkcode/")


def _public(name: str) -> bool:
    return not name.startswith("_")


def _def(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}({ast.unparse(node.args)})"


# ---- what the task statement allows to go ---------------------------------------------------------

_RENAME = re.compile(r"\brename\s+(?:the\s+)?(?:(?:function|method|class|variable|constant|field|attribute|"
                     r"parameter|argument|module)\s+)?[`'\"]?([A-Za-z_]\w*)[`'\"]?(?:\(\))?\s+"
                     r"(?:everywhere\s+)?to\s+[`'\"]?([A-Za-z_]\w*)", re.I)


def renames_in(task: str) -> list[tuple[str, str]]:
    """(old, new) for each "rename X to Y" in a task statement."""
    return [(m[1], m[2]) for m in _RENAME.finditer(task)
            if m[1] != m[2] and (_quoted(m) or (_code_like(m[1]) and _code_like(m[2])))]


def _quoted(m: re.Match) -> bool:
    return any(q in m[0] for q in "`'\"") or "()" in m[0]


def _code_like(name: str) -> bool:
    """snake_case, camelCase or with digits: an identifier, not an English word."""
    return "_" in name or bool(re.search(r"[a-z][A-Z]|\d", name))


def removal_asked(task: str, name: str) -> bool:
    """The task asks to rename or remove this name (one judge for the API guard and the merge of
    whole-file rewrites)."""
    return any(old == name for old, _ in renames_in(task)) or bool(re.search(
        rf"\b(?:remove|delete|drop|get rid of)\b[^.\n]{{0,40}}\b{re.escape(name)}\b", task, re.I))


_FILE_NAME = re.compile(r"(?<![\w/.-])([\w-]+(?:/[\w-]+)*\.(?:py|html|js|css))\b")


def files_named(statement: str) -> list[str]:
    """The files a task statement names ("Write rle.py …", "in snake.html"), in order: what an Aider
    user passes on the command line so that Aider may create them, and where a reply's one unnamed
    code block of that type belongs."""
    names = _FILE_NAME.findall(statement)
    # "using Chart.js", "a Node.js server": a library's name, not a file
    return list(dict.fromkeys(n for n in names if not (n.endswith(".js") and (n[:1].isupper() or n == "node.js"))))
