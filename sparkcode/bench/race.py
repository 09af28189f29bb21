"""`sparkcode race TASK`: the same task, one profile after another, side by side.

Each profile gets a fresh temporary workspace and a freshly loaded backend (closed afterwards),
and runs alone — one at a time, so no run slows another. Wall time is the agent's run only
(model loading is reported apart as ``load_s``). A live table shows each run's status, turn,
tokens out and elapsed time. What the run produced is then checked:

- an HTML file: judged by `playtest.judge_page`, the same verdict the agent's checks use: played
  in headless Chromium, no JS errors, a canvas that changes; for a game task (`checks.is_game`)
  played for 30 s with the arrow keys, which must steer it, through game over and restart, on a
  play area of at least 240x240 px and without alert() dialogs;
- a Python file: it compiles, and entry points (``__main__`` guard, main.py/app.py, or the only
  file) run in the sandboxed shell within a timeout (still running at the timeout counts as
  running, e.g. a server or a game loop; a crash does not);
- anything else: not checked (valid = the run ended "done").

The closing table gives, per profile: model, status, valid, wall s, decode tok/s, time to first
token, tokens out, and the speedup of each profile over ``standard`` (standard wall ÷ profile
wall). ``--json`` prints one JSON object; ``--out`` appends a section and a bar chart to the
benchmarks file.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..agent.checks import is_game
from ..agent.loop import Agent, AgentConfig, Outcome
from ..agent.workspace import Workspace
from ..engine.sampling import SamplingParams
from ..errors import SparkcodeError
from ..profiles import Profile, backend_for, close_backend, get_profile, load_profiles

DEFAULT_PROFILES = ("standard", "spark", "spark-mini")
BASELINE = "standard"
PY_RUN_TIMEOUT_S = 10.0


@dataclass
class Validity:
    valid: bool | None  # None: nothing that can be checked
    message: str
    checks: list[dict] = field(default_factory=list)


@dataclass
class RaceEntry:
    profile: str
    model: str
    speculate: str
    style: str
    remote: bool
    status: str = "pending"  # the agent's outcome status, or "error" when the run could not happen
    summary: str = ""
    valid: bool | None = None
    check: str = ""
    wall_s: float = 0.0
    load_s: float = 0.0
    tokens_out: int = 0
    tokens_in: int = 0
    cached_tokens: int = 0
    decode_tps: float = 0.0
    ttft_s: float = 0.0  # first turn: what the user waits for before anything appears
    ttft_median_s: float = 0.0
    turns: int = 0
    files: list[str] = field(default_factory=list)
    workspace: str = ""
    checks: list[dict] = field(default_factory=list)


@dataclass
class RaceResult:
    task: str
    entries: list[RaceEntry]
    baseline: str | None
    speedups: dict[str, float]  # profile -> baseline wall ÷ profile wall (> 1: faster than the baseline)

    def entry(self, name: str) -> RaceEntry:
        return next(e for e in self.entries if e.profile == name)

    def to_dict(self) -> dict:
        return {"task": self.task, "baseline": self.baseline, "speedups": self.speedups,
                "entries": [asdict(e) for e in self.entries]}


# ---- live progress ------------------------------------------------------------------------------

@dataclass
class _Row:
    profile: str
    model: str
    status: str = "waiting"
    turn: int = 0
    tokens: int = 0  # from finished turns
    streamed: int = 0  # text pieces of the turn in progress (about one per token)
    t0: float | None = None
    t_end: float | None = None

    @property
    def elapsed(self) -> float:
        if self.t0 is None:
            return 0.0
        return (self.t_end or time.perf_counter()) - self.t0


class RaceReporter:
    """The agent `Reporter` behind one row of the live table."""

    def __init__(self, row: _Row):
        self.row = row

    def turn_start(self, turn: int) -> None:
        self.row.turn, self.row.status, self.row.streamed = turn, "generating", 0

    def text(self, delta: str) -> None:
        self.row.streamed += 1

    def action(self, action, result) -> None:
        self.row.status = action.tool

    def note(self, message: str) -> None:
        pass

    def checks(self, results) -> None:
        self.row.status = "checking"

    def turn_end(self, stats) -> None:
        self.row.tokens += stats.completion_tokens
        self.row.streamed = 0


def _live_table(rows: list[_Row], task: str):
    from rich.table import Table

    t = Table(title=f"race: {task}"[:120])
    for col in ("profile", "model", "status", "turn", "tokens out", "elapsed s"):
        t.add_column(col, justify="right" if col in ("turn", "tokens out", "elapsed s") else "left")
    for r in rows:
        t.add_row(r.profile, r.model, r.status, str(r.turn or ""), str(r.tokens + r.streamed),
                  f"{r.elapsed:.1f}" if r.t0 is not None else "")
    return t


# ---- checking what a run produced ----------------------------------------------------------------

def check_workspace(root: Path, files: list[str], check_html: Callable | None = None,
                    py_timeout: float = PY_RUN_TIMEOUT_S, keyboard: bool = False) -> Validity:
    """Check the files a run wrote (see the module docstring). ``keyboard``: a game task (its pages
    are played as games). ``check_html(path, game=...)`` returns a `PageVerdict` (default: the
    playtest's `judge_page`)."""
    html = [f for f in files if f.lower().endswith((".html", ".htm")) and (root / f).is_file()]
    py = [f for f in files if f.endswith(".py") and (root / f).is_file()]
    if not files:
        return Validity(False, "no files written")
    checks: list[dict] = []
    if html:
        if check_html is None:
            from ..agent.playtest import judge_page as check_html
        for f in html:
            try:
                v = check_html(root / f, game=keyboard)
            except SparkcodeError as e:  # no Chromium or playwright here: the page cannot be judged
                checks.append({"file": f, "ok": None, "message": str(e)})
                continue
            d = v.details or {}
            checks.append({"file": f, "ok": v.ok, "message": v.summary if v.ok else "; ".join(v.problems),
                           "problems": v.problems[:5], "game_overs": len(d.get("game_overs") or []),
                           "canvas_changed": d.get("canvas_changed"), "responds_to_keys": d.get("responds_to_keys"),
                           "duration_s": d.get("duration_s")})
    for f in py:
        checks.append(_check_python(root, f, run=_is_entry_point(root / f, len(py) == 1), timeout=py_timeout))
    if not checks:
        return Validity(None, f"not checked ({', '.join(files[:3])})")
    oks = [c["ok"] for c in checks]
    valid = False if False in oks else None if None in oks else True
    bad = [c for c in checks if c["ok"] is not True]
    msg = "; ".join(f"{c['file']}: {c['message']}" for c in (bad or checks))
    return Validity(valid, msg[:300], checks)


def _is_entry_point(path: Path, only_file: bool) -> bool:
    if path.name.startswith("test_") or path.name.endswith("_test.py"):
        return False
    if only_file or path.name in ("main.py", "app.py", "__main__.py"):
        return True
    try:
        return "__main__" in path.read_text(errors="replace")
    except OSError:
        return False


def _check_python(root: Path, rel: str, run: bool, timeout: float) -> dict:
    from ..agent.shell import run_command

    try:
        compile((root / rel).read_bytes(), rel, "exec")
    except (SyntaxError, ValueError) as e:
        return {"file": rel, "ok": False, "message": f"does not compile: {e}"}
    if not run:
        return {"file": rel, "ok": True, "message": "compiles"}
    r = run_command(f"python3 -I {shlex.quote(rel)}", root, timeout=timeout)
    if r.timed_out:
        return {"file": rel, "ok": True, "message": f"compiles; still running after {timeout:g} s without crashing"}
    if r.ok:
        return {"file": rel, "ok": True, "message": "compiles and runs"}
    tail = r.output.strip().splitlines()[-1:] or [f"exit {r.exit_code}"]
    return {"file": rel, "ok": False, "message": f"exits {r.exit_code}: {tail[0][:200]}"}


# ---- the race --------------------------------------------------------------------------------------

def run_race(task: str, profiles: list[Profile], *, timeout_s: float = 900, threads: int | None = None,
             backend_factory: Callable[[Profile], object] | None = None, check_html: Callable | None = None,
             workdir: Path | None = None, keep_workspaces: bool = False, max_turns: int = 8,
             console=None, live: bool = True) -> RaceResult:
    """Run `task` once per profile, one at a time, each in its own fresh workspace."""
    from rich.console import Console
    from rich.live import Live

    if not task.strip():
        raise SparkcodeError("the task is empty")
    if not profiles:
        raise SparkcodeError("no profiles to race")
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise SparkcodeError(f"a profile is named twice: {', '.join(names)}")
    factory = backend_factory or (lambda p: backend_for(p, threads=threads, show_progress=False))
    console = console or Console(stderr=True)
    rows = [_Row(p.name, p.model) for p in profiles]
    entries: list[RaceEntry] = []
    display = Live(console=console, refresh_per_second=4, transient=False,
                   get_renderable=lambda: _live_table(rows, task)) if live else None
    if display:
        display.start()
    try:
        for prof, row in zip(profiles, rows):
            entry = RaceEntry(prof.name, prof.model, prof.speculate, prof.style, prof.is_remote)
            entries.append(entry)
            root = Path(tempfile.mkdtemp(prefix=f"race-{prof.name}-", dir=workdir))
            entry.workspace = str(root)
            try:
                _run_one(task, prof, entry, row, root, factory, timeout_s, max_turns)
                if entry.status == "interrupted":
                    break
                row.status = "validating"
                v = check_workspace(root, entry.files, check_html, keyboard=is_game(task))
                entry.valid, entry.check, entry.checks = v.valid, v.message, v.checks
                row.status = f"{entry.status} · " + {True: "valid", False: "invalid", None: "unchecked"}[v.valid]
            finally:
                if not keep_workspaces:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        if display:
            display.stop()
    return RaceResult(task, entries, *_speedups(entries))


def _run_one(task, prof, entry, row, root, factory, timeout_s, max_turns) -> None:
    row.status = "loading"
    t_load = time.perf_counter()
    backend = None
    try:
        backend = factory(prof)
        entry.load_s = time.perf_counter() - t_load
        cfg = AgentConfig(max_turns=max_turns, wall_limit_s=timeout_s, speculate=prof.speculate, style=prof.style,
                          sampling=SamplingParams(temperature=0.0, seed=0))
        agent = Agent(backend, Workspace(root), cfg, RaceReporter(row))
        row.t0 = time.perf_counter()
        row.status = "generating"
        outcome = agent.run(task)
        row.t_end = time.perf_counter()
        _fill(entry, outcome)
    except SparkcodeError as e:
        entry.status, entry.summary = "error", str(e)
    except Exception as e:  # one broken profile must not end the race; the message says what happened
        entry.status = "error"
        entry.summary = f"{type(e).__name__}: {e} ({traceback.extract_tb(e.__traceback__)[-1].name})"
    finally:
        if row.t0 is not None and row.t_end is None:
            row.t_end = time.perf_counter()
        if backend is not None:
            close_backend(backend)
    row.status = entry.status


def _fill(entry: RaceEntry, out: Outcome) -> None:
    d = out.to_dict()
    entry.status, entry.summary = out.status, out.summary
    entry.wall_s = out.wall_s
    entry.tokens_out, entry.tokens_in, entry.cached_tokens = d["tokens_out"], d["tokens_in"], d["cached_tokens"]
    entry.turns = len(out.turns)
    entry.files = list(out.files_written)
    entry.decode_tps = decode_tps([(t.completion_tokens, t.decode_tps) for t in out.turns])
    ttfts = sorted(t.ttft_s for t in out.turns)
    entry.ttft_s = out.turns[0].ttft_s if out.turns else 0.0
    entry.ttft_median_s = ttfts[len(ttfts) // 2] if ttfts else 0.0


def decode_tps(turns: list[tuple[int, float]]) -> float:
    """Tokens per second over all turns: (tokens after each turn's first) ÷ (time spent decoding them)."""
    tokens = seconds = 0.0
    for n, tps in turns:
        if n > 1 and tps > 0:
            tokens += n - 1
            seconds += (n - 1) / tps
    return tokens / seconds if seconds else 0.0


def _speedups(entries: list[RaceEntry]) -> tuple[str | None, dict[str, float]]:
    base = next((e for e in entries if e.profile == BASELINE), None)
    if base is None or base.status == "error" or base.wall_s <= 0:
        return (base.profile if base else None), {}
    return base.profile, {e.profile: round(base.wall_s / e.wall_s, 3) for e in entries
                          if e is not base and e.status != "error" and e.wall_s > 0}


# ---- output ------------------------------------------------------------------------------------------

HEADER = ["profile", "model", "status", "valid", "wall s", "tok/s", "TTFT s", "tokens", "speedup"]


def table_rows(result: RaceResult) -> list[list]:
    rows = []
    for e in result.entries:
        valid = {True: "yes", False: "no", None: "-"}[e.valid]
        speed = ("1.00× (baseline)" if e.profile == result.baseline and result.speedups
                 else f"{result.speedups[e.profile]:.2f}×" if e.profile in result.speedups else "-")
        rows.append([e.profile, e.model, e.status, valid, round(e.wall_s, 2), round(e.decode_tps, 1),
                     round(e.ttft_s, 3), e.tokens_out, speed])
    return rows


def speedup_lines(result: RaceResult) -> list[str]:
    return [f"{result.baseline} ÷ {name} wall time: {ratio:.2f}× ({'faster' if ratio >= 1 else 'slower'})"
            for name, ratio in result.speedups.items()]


def print_table(result: RaceResult, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console(width=None if sys.stdout.isatty() else 200)
    t = Table(title=f"race: {result.task}"[:120])
    for h in HEADER:
        t.add_column(h, justify="left" if h in ("profile", "model", "status") else "right")
    for r in table_rows(result):
        t.add_row(*(str(v) for v in r))
    console.print(t)
    for e in result.entries:
        if e.check or e.status == "error":
            console.print(Text.assemble((e.profile, "bold"), ": ", e.check or e.summary))
    for line in speedup_lines(result):
        console.print(line, highlight=False)


def write_report(result: RaceResult, out: str, threads: int | None = None) -> None:
    from .report import append_section, bar_chart, machine, markdown_table

    png = None
    if out != "-":
        png = Path(out).resolve().parent / f"bench-race-{time.strftime('%Y%m%d-%H%M')}.png"
        bar_chart(png, f"race: {result.task}"[:80], ["wall s (lower is better)", "decode tok/s", "TTFT s", "tokens out"],
                  {e.profile: [e.wall_s, e.decode_tps, e.ttft_s, float(e.tokens_out)] for e in result.entries})
    meta = {"task": result.task, "machine": machine(), "threads": threads or "default (physical cores)",
            "profiles": "; ".join(f"{e.profile} = {e.model}, speculate {e.speculate}, {e.style} prompt"
                                  + (" (remote)" if e.remote else "") for e in result.entries),
            "runs": "one per profile, one at a time, fresh workspace and freshly loaded model each; greedy "
                    "decoding (a turn after a repeated failing answer is sampled, seeded: see agent/loop.py)"}
    body = markdown_table(HEADER, table_rows(result))
    lines = speedup_lines(result)
    if lines:
        body += "\n\n" + "\n".join(f"- {ln}" for ln in lines)
    checks = [f"- {e.profile}: {e.check or e.summary}" for e in result.entries if e.check or e.status == "error"]
    if checks:
        body += "\n\nChecks:\n" + "\n".join(checks)
    append_section(out, "Race", meta, body, png)


def main(args) -> int:
    """`sparkcode race`: args has task, profiles, json, timeout, out, threads, keep."""
    task = sys.stdin.read() if args.task == "-" else args.task
    known = load_profiles(Path.cwd())
    names = [n.strip() for n in (args.profiles or ",".join(DEFAULT_PROFILES)).split(",") if n.strip()]
    profiles = [get_profile(n, known) for n in names]
    from rich.console import Console

    result = run_race(task, profiles, timeout_s=args.timeout, threads=args.threads,
                      keep_workspaces=args.keep, console=Console(stderr=True))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_table(result)
        if args.keep:
            for e in result.entries:
                print(f"{e.profile}: {e.workspace}")
    if args.out:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: stdout is one object
            write_report(result, args.out, args.threads)
    return 0 if all(e.status != "error" for e in result.entries) else 1
