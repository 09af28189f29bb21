"""Terminal output for a run, with rich: streamed model text, one line per tool call, diffs
for edits, check results, and the closing table of per-turn stats."""

from __future__ import annotations

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from .actions import Action
from .checks import CheckResult
from .loop import Outcome, TurnStats
from .tools import ToolResult


class RichReporter:
    def __init__(self, console: Console | None = None, show_text: bool = True):
        self.c = console or Console(stderr=False, highlight=False)
        self.show_text = show_text

    def turn_start(self, turn: int) -> None:
        self.c.rule(f"turn {turn}", style="dim")

    def text(self, delta: str) -> None:
        if self.show_text:
            self.c.out(delta, end="", highlight=False)

    def action(self, action: Action, result: ToolResult) -> None:
        what = action.args.get("path") or action.args.get("command") or ""
        mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
        self.c.print(f"\n{mark} [bold]{action.tool}[/] {what}", highlight=False)
        if result.diff:
            self.c.print(Syntax(result.diff[:4000], "diff", theme="ansi_dark"))
        elif not result.ok or action.tool == "run":
            self.c.print(result.output[:1500], style="dim" if result.ok else "red", highlight=False, markup=False)

    def note(self, message: str) -> None:
        self.c.print(message, style="yellow")

    def checks(self, results: list[CheckResult]) -> None:
        for r in results:
            mark = "[green]check ✓[/]" if r.ok else "[red]check ✗[/]"
            self.c.print(f"{mark} {r.path}: ", end="")
            self.c.print(r.message[:800], markup=False, highlight=False)

    def turn_end(self, stats: TurnStats) -> None:
        pass


def summary_table(out: Outcome) -> Table:
    label = {"done": "done (verified)", "unverified": "UNVERIFIED"}.get(out.status, out.status)
    t = Table(title=f"{label}: {out.summary}"[:300], show_footer=True)
    cols = [("turn", "total"), ("prompt tok", sum(x.prompt_tokens for x in out.turns)),
            ("cached", sum(x.cached_tokens for x in out.turns)), ("out tok", sum(x.completion_tokens for x in out.turns)),
            ("TTFT ms", ""), ("tok/s", ""), ("model s", f"{out.model_s:.1f}"), ("tools s", f"{out.tools_s:.1f}"), ("of it verify s", f"{out.verify_s:.1f}"),
            ("accepted/drafted", "")]
    for name, footer in cols:
        t.add_column(name, footer=str(footer), justify="right")
    for x in out.turns:
        t.add_row(str(x.turn), str(x.prompt_tokens), str(x.cached_tokens), str(x.completion_tokens),
                  f"{x.ttft_s * 1000:.0f}", f"{x.decode_tps:.1f}", f"{x.model_s:.1f}", f"{x.tools_s:.1f}", f"{x.verify_s:.1f}",
                  f"{x.accepted}/{x.drafted}" if x.drafted else "-")
    t.caption = f"wall {out.wall_s:.1f} s · files: {', '.join(out.files_written) or 'none'} · log: {out.session}"
    if out.missing:
        t.caption += "\nnot checked here: " + "; ".join(out.missing) + " (see `sparkcode doctor`)"
    return t
