"""The verify stage: small pluggable verifiers behind one Protocol, and the verdict they add up to.

After a turn that changed files (or claimed to be finished) the loop runs every verifier; each
returns `CheckResult`s. Three kinds of result matter to the decision (`Verdict`):

- a failure goes back to the model;
- a *behavioural* pass (tests ran, a page was played, a program ran) is what "done" needs;
- a check that could not run here (no Chromium, no tests could be written) is listed in
  ``missing`` with how to get it, and turns a would-be "done" into "unverified".

The verifiers here need no model: `FileChecks` (syntax, pages played in Chromium, the
workspace's own tests — see checks.py), `ApiGuard` (public names that existed before still exist
unless the task names them) and `RenameGone` (after "rename X to Y", X appears nowhere).
`acceptance.AcceptanceTests` is the one that asks the model, for tests derived from the task.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from .checks import CheckResult, check_files
from .names import python_names, removal_asked, renames_in  # noqa: F401 (renames_in: re-exported)
from .workspace import ToolError, Workspace


@dataclass
class VerifyContext:
    ws: Workspace
    task: str
    targets: list[str]  # files to check now: changed this turn, written unchanged, and still failing
    changed: list[str]  # every file the run has written so far (changed, or rewritten as a claim it is right)
    game: bool = False
    timeout: float = 30
    browser: bool = True
    earlier: list[CheckResult] = field(default_factory=list)  # results of the verifiers that ran before
    ranking: bool = False  # checking one of several candidates: judge only, change no test between them
    deadline: float | None = None  # time.perf_counter() at the run's wall-time limit: a generation is cut there

    @property
    def changed_any(self) -> bool:
        return bool(self.changed)


class OutOfTime(Exception):
    """The wall-time limit passed while the model was still writing (a turn, or a verifier's
    generation such as the acceptance tests): the cut reply is not used, the run ends `timeout`."""


def past(deadline: float | None) -> bool:
    """The wall-time limit (a `time.perf_counter()` value; None: no limit) has passed."""
    return deadline is not None and time.perf_counter() > deadline


def cut(finish_reason: str, deadline: float | None) -> bool:
    """A generation stopped because the limit passed: not a whole reply. The one judgement for the
    loop's turns and candidates and the test writer's generations."""
    return finish_reason == "cancelled" and past(deadline)


def raise_if_cut(finish_reason: str, deadline: float | None) -> None:
    if cut(finish_reason, deadline):
        raise OutOfTime()


class Verifier(Protocol):
    """A verifier may also have ``restart()``: the loop calls it when a run starts afresh from the
    original files (it then forgets what it learnt about the abandoned attempt's code)."""

    name: str

    def verify(self, ctx: VerifyContext) -> list[CheckResult]: ...


@dataclass
class Verdict:
    results: list[CheckResult]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def behavioural(self) -> bool:
        """Some check ran the code's behaviour and passed."""
        return any(r.ok and r.behavioural for r in self.results)

    @property
    def missing(self) -> list[str]:
        return list(dict.fromkeys(m for r in self.results for m in r.missing))


def run_verifiers(verifiers: list[Verifier], ctx: VerifyContext) -> Verdict:
    results: list[CheckResult] = []
    for v in verifiers:
        ctx.earlier = list(results)
        results += v.verify(ctx)
    return Verdict(results)


class FileChecks:
    """Each target file checked by its kind (checks.check_files)."""

    name = "files"

    def verify(self, ctx: VerifyContext) -> list[CheckResult]:
        live = [t for t in ctx.targets if _is_file(ctx.ws, t)]
        return check_files(ctx.ws, live, timeout=ctx.timeout, browser=ctx.browser, keyboard=ctx.game) if live else []


class ApiGuard:
    """Public functions, classes and methods that existed before the run must still exist, unless
    the task asks to rename or remove them; a name moved to another file counts as present. Names
    the run itself wrote in an earlier turn are guarded against partial rewrites only (a file
    rewritten with fewer public names than it had: "wrote only the changed function"), so the
    model may still rename its own helpers."""

    name = "api"

    def __init__(self, ws: Workspace, task: str):
        self.before = {n.qualname: n.path for n in python_names(ws)}
        self.written: dict[str, str] = {}  # names the run wrote, by qualname -> path
        self.counts: dict[str, int] = {}  # public names per file at the last verification
        self.task = task

    def restart(self) -> None:
        self.written, self.counts = {}, {}

    def verify(self, ctx: VerifyContext) -> list[CheckResult]:
        if not ctx.changed_any:
            return []
        names = python_names(ctx.ws)
        now = {n.qualname for n in names}
        counts: dict[str, int] = {}
        for n in names:
            counts[n.path] = counts.get(n.path, 0) + 1
        shrunk = {p for p, c in self.counts.items() if counts.get(p, 0) < c}
        gone = [q for q, p in self.before.items() if q not in now and not removal_asked(self.task, q.rsplit(".", 1)[-1])]
        gone += [q for q, p in self.written.items() if q not in now and p in shrunk and q not in self.before
                 and not removal_asked(self.task, q.rsplit(".", 1)[-1])]
        where = ", ".join(f"{q} ({self.before.get(q) or self.written[q]})" for q in gone[:8])
        self.written = {n.qualname: n.path for n in names if n.qualname not in self.before} | {
            q: self.written[q] for q in gone if q in self.written}
        if not gone:  # while names are missing, the file is still measured against what it had
            self.counts = counts
        if gone:
            return [CheckResult("public names", False,
                                f"these public names existed and are gone: {where}. Keep them (the task does not ask "
                                "to remove them): write the complete file with every function, not only the changed one",
                                cases_failed=len(gone))]
        if not self.before and not self.written:
            return []
        return [CheckResult("public names", True, "every public name written so far is there")]


class RenameGone:
    """After "rename X to Y", search the workspace: X must appear nowhere, Y somewhere."""

    name = "rename"

    def __init__(self, task: str):
        self.renames = renames_in(task)

    def verify(self, ctx: VerifyContext) -> list[CheckResult]:
        if not self.renames or not ctx.changed_any:
            return []
        out = []
        for old, new in self.renames:
            left = ctx.ws.search(rf"\b{re.escape(old)}\b")
            if left:
                where = "; ".join(f"{p}:{n}: {line[:80]}" for p, n, line in left[:10])
                out.append(CheckResult(f"rename {old}", False,
                                       f"`{old}` still appears in {len(left)} place(s) (rename it everywhere): {where}"))
            elif not ctx.ws.search(rf"\b{re.escape(new)}\b"):
                out.append(CheckResult(f"rename {old}", False, f"`{new}` appears nowhere: rename `{old}` to `{new}`"))
            else:
                out.append(CheckResult(f"rename {old}", True, f"`{old}` is gone everywhere, `{new}` is used"))
        return out


def _is_file(ws: Workspace, rel: str) -> bool:
    try:
        return ws.resolve(rel).is_file()
    except ToolError:
        return False
