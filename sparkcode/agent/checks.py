"""Verifying what the agent wrote, so failures go back to the model instead of to the user.

- ``.py``: compiles (py_compile); if the workspace has tests (``test_*.py``/``*_test.py``), pytest runs;
- ``.html``: the markup parses, inline scripts pass ``node --check`` (syntax), and no
  external script or stylesheet is referenced (single-file apps must run offline); then, where
  Chromium and playwright are installed, the page is run headless (`browser_check`): runtime
  JavaScript errors, a canvas that never changes, and key listeners whose keys change nothing
  are reported too;
- ``.js``: ``node --check``; ``.json``: parses.

Every check runs through `shell.run_command` (sandboxed, time-limited).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .. import components
from .pytest_report import PYTEST, digest, failed_count
from .names import JS_RESERVED, js_definition
from .shell import run_command
from .workspace import Workspace


@dataclass
class CheckResult:
    path: str
    ok: bool
    message: str
    behavioural: bool = False  # ran the code's behaviour (tests, a CLI, a page played), not only its syntax
    missing: list[str] = field(default_factory=list)  # checks that could not run here, each with how to get it
    cases_failed: int = 0  # of a failing check that runs many cases (tests): how many failed

    @property
    def badness(self) -> int:
        """0 for a pass; else 1 plus the failed cases: ranks versions of the code by their checks."""
        return 0 if self.ok else 1 + self.cases_failed


def is_game(task: str) -> bool:
    """Whether a task asks for something played with the keyboard (its canvas must answer the arrow keys)."""
    return bool(re.search(r"\bgames?\b|\bplayable\b", task, re.I))


def check_files(ws: Workspace, paths: list[str], timeout: float = 60, browser: bool = True,
                keyboard: bool = False) -> list[CheckResult]:
    """Check each file by its kind; ``keyboard``: a page's canvas must answer the arrow keys (a game)."""
    results = []
    for rel in dict.fromkeys(paths):
        p = ws.root / rel
        if not p.is_file():
            continue
        kind = p.suffix.lower()
        if kind == ".py":
            results.append(_python(ws, rel, timeout))
        elif kind in (".html", ".htm"):
            results.append(_html(ws, rel, timeout, browser, keyboard))
        elif kind in (".js", ".mjs"):
            results.append(_js_file(ws, rel, timeout))
        elif kind == ".json":
            try:
                json.loads(p.read_text())
                results.append(CheckResult(rel, True, "valid JSON"))
            except ValueError as e:
                results.append(CheckResult(rel, False, f"invalid JSON: {e}"))
    tests = [f for f in ws.list_files() if _is_test(f)]
    if tests and any(r.path.endswith(".py") for r in results) and all(r.ok for r in results):
        results.append(_pytest(ws, timeout))
    return results


def _is_test(f: str) -> bool:
    name = Path(f).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _python(ws: Workspace, rel: str, timeout: float) -> CheckResult:
    r = run_command(f"python3 -m py_compile {_q(rel)}", ws.root, timeout=timeout)
    return CheckResult(rel, r.ok, "compiles" if r.ok else _tail(r.output))


def _pytest(ws: Workspace, timeout: float) -> CheckResult:
    # up to 10 failures, counted: versions of the code are ranked by how many fail
    r = run_command(f"{PYTEST} --maxfail=10", ws.root, timeout=timeout)
    failed = "" if r.ok else "tests fail:\n" + digest(r.output, sources=code_sources(ws))
    return CheckResult("tests", r.ok, failed or "tests pass", behavioural=True,
                       cases_failed=0 if r.ok else failed_count(r.output))


def code_sources(ws: Workspace, most: int = 50, max_bytes: int = 200_000) -> dict[str, str]:
    """The workspace's Python files that are not tests, by path (for naming the line that printed a text)."""
    out = {}
    for rel in ws.list_files():
        if rel.endswith(".py") and not _is_test(rel) and not rel.startswith(".sparkcode/"):
            path = ws.root / rel
            if path.stat().st_size <= max_bytes:
                out[rel] = path.read_text(errors="replace")
            if len(out) >= most:
                break
    return out


def _js_file(ws: Workspace, rel: str, timeout: float) -> CheckResult:
    if not shutil.which("node"):
        return CheckResult(rel, True, "syntax not checked", missing=[components.missing_hint("node") or "node is missing"])
    r = run_command(f"node --check {_q(rel)}", ws.root, timeout=timeout)
    return CheckResult(rel, r.ok, "script parses" if r.ok else _tail(r.output))


class _PageScan(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[int, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self._in_script = False
        self._buf: list[str] = []
        self._line = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "script":
            if a.get("src"):
                self.external.append(a["src"])
            elif (a.get("type") or "text/javascript").lower() in ("text/javascript", "application/javascript", "module"):
                self._in_script, self._buf, self._line = True, [], self.getpos()[0]
        elif tag == "link" and (a.get("rel") or "").lower() == "stylesheet" and a.get("href"):
            self.external.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script:
            self.scripts.append((self._line, "".join(self._buf)))
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self._buf.append(data)


def _html(ws: Workspace, rel: str, timeout: float, browser: bool = True, keyboard: bool = False) -> CheckResult:
    text = (ws.root / rel).read_text(errors="replace")
    scan = _PageScan()
    try:
        scan.feed(text)
        scan.close()
    except Exception as e:  # html.parser is lenient; anything raised is worth reporting
        return CheckResult(rel, False, f"HTML does not parse: {e}")
    problems = []
    if scan._in_script:
        problems.append("a <script> element is never closed")
    local = [u for u in scan.external if not u.startswith(("http:", "https:", "//"))]
    remote = [u for u in scan.external if u not in local]
    if remote:
        problems.append(f"loads external resources ({', '.join(remote[:3])}); inline them: the page must work offline")
    for u in local:
        if not (ws.root / Path(rel).parent / u).is_file():
            problems.append(f"references {u}, which does not exist")
    node = shutil.which("node")
    missing = [] if node else [components.missing_hint("node") or "node is missing"]
    if node:
        with tempfile.TemporaryDirectory() as d:
            for i, (line, code) in enumerate(scan.scripts):
                js = Path(d) / f"script{i}.js"
                js.write_text("\n" * (line - 1) + code)  # keep line numbers of the HTML file
                r = run_command(f"node --check {js}", Path(d), timeout=timeout)
                if not r.ok:
                    problems.append("JavaScript syntax error (line numbers are the HTML file's):\n"
                                    + _tail(r.output.replace(str(js), rel)))
    code = "".join(_strip_js_comments(c) for _, c in scan.scripts).strip()
    unloaded = _defined_in_an_unloaded_script(ws, rel, code, scan.external)
    if unloaded:  # measured: `new Game()` in the page, `class Game` in a game.js it never loads
        name, js = unloaded
        problems.append(f"the page's script uses {name}, which is defined in {js}, but {rel} never loads {js}: put "
                        f"{js}'s code in a <script> in {rel} (a page in one file needs no other), or load it with "
                        f'<script src="{js}"></script> before the script that uses it')
    elif "canvas" in scan.tags and not scan.external and len(code) < 80:
        problems.append("has a <canvas> but its script is empty or a placeholder: write the complete code")
    elif _PLACEHOLDER.search("".join(c for _, c in scan.scripts)):
        problems.append("the script contains placeholder comments instead of code: write the complete code")
    if problems:  # each problem a failed case: versions of a page are ranked by how many they have
        return CheckResult(rel, False, "; ".join(problems), cases_failed=len(problems))
    parsed = "HTML parses" + (f", {len(scan.scripts)} inline script(s) pass node --check" if node else "")
    if not browser:
        return CheckResult(rel, True, parsed, missing=missing + ["page not played in a browser (browser checks are "
                                                                 "turned off)"])
    # the page is played; `playtest.judge_page` is the one verdict on pages
    from . import browser_check, playtest
    from ..errors import SparkcodeError

    if not browser_check.available():
        hint = components.missing_hint("chromium") or components.missing_hint("playwright") or playtest.NO_BROWSER
        return CheckResult(rel, True, parsed + "; not played in a browser", missing=missing + [hint])
    try:
        verdict = playtest.judge_page(ws.root / rel, game=keyboard, timeout_s=max(45.0, timeout))
    except SparkcodeError as e:  # the browser itself failed: say so, do not fail the page for it
        return CheckResult(rel, True, parsed + "; not played in a browser",
                           missing=missing + [f"page not played in a browser: {e}"])
    if not verdict.ok:
        return CheckResult(rel, False, "; ".join(verdict.problems), behavioural=verdict.played,
                           cases_failed=len(verdict.problems))
    return CheckResult(rel, True, f"{parsed}; played in Chromium: {verdict.summary}", behavioural=True, missing=missing)


_JS_NAME = re.compile(r"(?<![\w$.])[A-Za-z_$][\w$]*")


def _defined_in_an_unloaded_script(ws: Workspace, rel: str, code: str, loaded: list[str]) -> tuple[str, str] | None:
    """(name, file) when the page's own script uses a name that only a workspace .js file the page
    does not load defines; None otherwise."""
    used = [n for n in dict.fromkeys(_JS_NAME.findall(code))
            if n not in JS_RESERVED and not re.search(js_definition(n), code)]
    if not used:
        return None
    here = Path(rel).parent
    skip = {(here / u).as_posix() for u in loaded}
    for js in ws.list_files(200):
        if not js.endswith((".js", ".mjs")) or js in skip or js.startswith(".sparkcode/"):
            continue
        try:
            text = (ws.root / js).read_text(errors="replace")[:200_000]
        except OSError:
            continue
        for name in used:
            if re.search(js_definition(name), text):
                return name, Path(os.path.relpath(js, here.as_posix())).as_posix()
    return None


_PLACEHOLDER = re.compile(r"//.*(?:code goes here|your (?:game |)code here|implement (?:the |)(?:game|logic) here|TODO: implement)",
                          re.I)


def _strip_js_comments(code: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", code, flags=re.S)


def _tail(text: str, n: int = 1200) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)
