"""What one agent run produces: per-turn stats, the typed result of a turn, the outcome, and
the Reporter protocol the loop talks to (terminal, server, silence). Plain types only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from ..engine.stats import Stats
from .actions import Action
from .checks import CheckResult
from .tools import ToolResult

LOOKING = ("run", "read_file", "list_files", "search")  # actions whose output the model wants to see


@dataclass
class TurnStats:
    turn: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    ttft_s: float
    decode_tps: float
    model_s: float
    tools_s: float
    drafted: int = 0
    accepted: int = 0
    verify_s: float = 0.0  # of tools_s: the verifiers, acceptance-test generations included
    verify_tokens: int = 0  # tokens the verifiers' own generations produced


@dataclass
class Turn:
    """What one act step produced."""

    reply: str
    stats: Stats
    actions: list[Action]
    errors: list[str]  # malformed pieces of the reply
    lines: list[str]  # tool results, for the model
    changed: list[str]  # files whose content changed
    written: list[str]  # files the reply wrote or edited, changed or not
    finished: bool
    summary: str
    tool_failed: bool
    runaway: bool  # the reply was cut because it repeated itself
    tools_s: float = 0.0

    @property
    def wants_results(self) -> bool:
        return any(a.tool in LOOKING for a in self.actions)


@dataclass
class Outcome:
    status: str
    summary: str
    files_written: list[str]
    turns: list[TurnStats]
    wall_s: float
    session: str
    checks: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # checks that could not run here

    @property
    def model_s(self) -> float:
        return sum(t.model_s for t in self.turns)

    @property
    def tools_s(self) -> float:
        return sum(t.tools_s for t in self.turns)

    @property
    def verify_s(self) -> float:
        return sum(t.verify_s for t in self.turns)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(model_s=round(self.model_s, 3), tools_s=round(self.tools_s, 3), verify_s=round(self.verify_s, 3),
                 tokens_in=sum(t.prompt_tokens for t in self.turns),
                 tokens_out=sum(t.completion_tokens for t in self.turns),
                 cached_tokens=sum(t.cached_tokens for t in self.turns),
                 verified=self.status == "done")
        return d


class Reporter(Protocol):
    def turn_start(self, turn: int) -> None: ...
    def text(self, delta: str) -> None: ...
    def action(self, action: Action, result: ToolResult) -> None: ...
    def note(self, message: str) -> None: ...
    def checks(self, results: list[CheckResult]) -> None: ...
    def turn_end(self, stats: TurnStats) -> None: ...


class SilentReporter:
    def turn_start(self, turn): pass
    def text(self, delta): pass
    def action(self, action, result): pass
    def note(self, message): pass
    def checks(self, results): pass
    def turn_end(self, stats): pass
