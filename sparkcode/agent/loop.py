"""The agent loop: task in, actions out, checked, repaired, until done or a limit.

Each turn: the backend streams a reply; `actions.parse_reply` turns it into tool calls; the
`Toolbox` runs them (checkpointing the workspace before the first change); `checks` verify the
files written; the results go back as the next user message. Every way a run can end is an
explicit `Outcome.status`:

- ``done``: the model called finish, or the files it wrote passed every check;
- ``max_turns`` / ``max_tokens`` / ``timeout``: a limit was hit;
- ``gave_up``: checks or malformed replies kept failing past the repair budget;
- ``interrupted``: Ctrl-C (the workspace stays as the last tool left it; `sparkcode undo` restores).

A model that answers a failure by rewriting the failing file unchanged is told so, and its next
turn is sampled (temperature 0.7, seeded) instead of greedy: greedy decoding would repeat itself.
A reply identical to an earlier one rewinds the conversation to before that earlier reply (a
model shown its own reply twice copies it a third time, even when sampled) and samples anew.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

from ..backends.base import Backend, ChatRequest
from ..engine.sampling import SamplingParams
from ..engine.stats import Done, TextDelta
from . import prompts
from .actions import Action, parse_reply
from .checkpoint import Checkpoint
from .checks import CheckResult, check_files, is_game
from .session import Session
from .tools import ToolResult, Toolbox
from .workspace import ToolError, Workspace


UNSTICK_TEMPERATURE = 0.7


@dataclass
class AgentConfig:
    max_turns: int = 8
    max_tokens_per_turn: int = 3072
    max_total_tokens: int = 24_000
    wall_limit_s: float = 900
    repair_rounds: int = 3
    command_timeout: float = 30
    speculate: str = "auto"
    sampling: SamplingParams = field(default_factory=SamplingParams)
    auto_finish: bool = True  # files written this turn all pass their checks -> done
    browser_check: bool = True  # run written HTML pages in headless Chromium when it is installed
    style: str = "terse"  # system prompt style, see prompts.system_prompt


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


@dataclass
class Outcome:
    status: str
    summary: str
    files_written: list[str]
    turns: list[TurnStats]
    wall_s: float
    session: str
    checks: list[dict] = field(default_factory=list)

    @property
    def model_s(self) -> float:
        return sum(t.model_s for t in self.turns)

    @property
    def tools_s(self) -> float:
        return sum(t.tools_s for t in self.turns)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(model_s=round(self.model_s, 3), tools_s=round(self.tools_s, 3),
                 tokens_in=sum(t.prompt_tokens for t in self.turns),
                 tokens_out=sum(t.completion_tokens for t in self.turns),
                 cached_tokens=sum(t.cached_tokens for t in self.turns))
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


class Agent:
    def __init__(self, backend: Backend, workspace: Workspace, config: AgentConfig | None = None,
                 reporter: Reporter | None = None):
        self.backend = backend
        self.ws = workspace
        self.config = config or AgentConfig()
        self.ui = reporter or SilentReporter()
        self.toolbox = Toolbox(workspace, command_timeout=self.config.command_timeout)

    def run(self, task: str) -> Outcome:
        session = Session(self.ws.root)
        session.log("task", task=task, backend=self.backend.name, mode=self.ws.mode)
        messages = [{"role": "system", "content": prompts.system_prompt(self.config.style)},
                    {"role": "user", "content": prompts.first_message(task, self.ws.tree_summary())}]
        for m in messages:
            session.log("message", **m)
        return self._loop(messages, session, keyboard=is_game(task))

    def resume(self, session: Session, message: str) -> Outcome:
        messages = session.messages()
        if not messages:
            messages = [{"role": "system", "content": prompts.SYSTEM}]
        messages.append({"role": "user", "content": message})
        session.log("message", role="user", content=message)
        return self._loop(messages, session, keyboard=is_game(f"{session.task() or ''} {message}"))

    # ------------------------------------------------------------------------------------
    def _loop(self, messages: list[dict], session: Session, keyboard: bool = False) -> Outcome:
        cfg, t0 = self.config, time.perf_counter()
        turns: list[TurnStats] = []
        written: list[str] = []
        checkpointed = False
        repairs = 0
        latest: dict[str, CheckResult] = {}  # each checked file's latest result: a failure stays until fixed
        tokens_used = 0
        resample = False  # the last turn repeated a failing file: sample the next one (see _unstuck)

        def end(status: str, summary: str) -> Outcome:
            out = Outcome(status, summary, list(dict.fromkeys(written)), turns, time.perf_counter() - t0,
                          str(session.path), [asdict(c) for p, c in latest.items() if self._is_workspace_file(p)])
            session.log("outcome", **{k: v for k, v in out.to_dict().items() if k != "turns"})
            return out

        try:
            for turn in range(1, cfg.max_turns + 1):
                if time.perf_counter() - t0 > cfg.wall_limit_s:
                    return end("timeout", f"wall-time limit of {cfg.wall_limit_s:.0f} s reached")
                budget = min(cfg.max_tokens_per_turn, cfg.max_total_tokens - tokens_used)
                if budget <= 0:
                    return end("max_tokens", f"token budget of {cfg.max_total_tokens} used up")
                self.ui.turn_start(turn)
                done = self._ask(messages, budget, self._unstuck(turn) if resample else cfg.sampling)
                resample = False
                tokens_used += done.stats.decode_tokens
                messages.append({"role": "assistant", "content": done.text})
                session.log("message", role="assistant", content=done.text)

                t_tools = time.perf_counter()
                actions, errors = parse_reply(done.text, list(self.ws.list_files()))
                if not checkpointed and any(a.tool in ("write_file", "edit_file", "run") for a in actions):
                    if self.ws.can_write:
                        Checkpoint(self.ws.root, session.run_id).snapshot(f"before run {session.run_id}")
                    checkpointed = True
                lines, changed, finished, summary, failed = self._execute(actions, session)
                written += changed
                # check what the model wrote this turn, changed or not: rewriting a failing file
                # unchanged must fail again, not pass silently
                targets = changed + [str(a.args["path"]) for a in actions
                                     if a.tool in ("write_file", "edit_file") and isinstance(a.args.get("path"), str)]
                if changed:  # a failing page may load the script just changed: check failing files again
                    targets += [p for p, c in latest.items() if not c.ok]
                targets = [t for t in dict.fromkeys(targets) if self._is_workspace_file(t)]
                last_checks = check_files(self.ws, targets, timeout=cfg.command_timeout, browser=cfg.browser_check,
                                          keyboard=keyboard) if targets else []
                if last_checks:
                    self.ui.checks(last_checks)
                    session.log("checks", results=[asdict(c) for c in last_checks])
                latest.update((c.path, c) for c in last_checks)
                checked_now = {c.path for c in last_checks}
                still_failing = [c for p, c in latest.items()
                                 if not c.ok and p not in checked_now and self._is_workspace_file(p)]
                bad_checks = [c for c in last_checks if not c.ok] + still_failing
                lines += [f"check {c.path}: {'OK' if c.ok else 'FAILED'} — {c.message}" for c in last_checks]
                lines += [f"still failing (not fixed yet): {c.path} — {c.message[:600]}" for c in still_failing]
                lines += [f"error: {e}" for e in errors]
                stats = done.stats
                ts = TurnStats(turn, stats.prompt_tokens, stats.cached_tokens, stats.decode_tokens, stats.ttft_s,
                               stats.decode_tps, stats.wall_s, time.perf_counter() - t_tools, stats.drafted,
                               stats.accepted)
                turns.append(ts)
                self.ui.turn_end(ts)
                session.log("turn", **asdict(ts))

                problems = bool(errors or failed or bad_checks)
                if finished and not bad_checks:
                    return end("done", summary or "finished")
                if not actions and not errors:
                    if written and not problems and not bad_checks:
                        return end("done", "the model stopped acting after its changes passed the checks")
                    lines = ["no action found in your reply. Write files with `FILE: path` + a fenced block, "
                             "edit with SEARCH/REPLACE blocks, or call a tool in <tool_call> tags."]
                    if "```" in done.text:
                        lines.append("your code blocks were not saved: put a line `FILE: <path>` right before "
                                     "each block, with the complete file content in the block.")
                    problems = True
                elif cfg.auto_finish and changed and not problems and not any(a.tool in ("run", "read_file", "list_files")
                                                                             for a in actions):
                    return end("done", f"wrote {', '.join(dict.fromkeys(changed))}; all checks pass")
                wrote_nothing_new = (problems and not changed
                                     and any(a.tool in ("write_file", "edit_file") for a in actions))
                text = done.text.strip()
                first = next((i for i, m in enumerate(messages[:-1]) if m["role"] == "assistant"
                              and m["content"].strip() == text), None) if problems else None
                if wrote_nothing_new:
                    # greedy decoding repeats itself given the same failure: ask for a different fix, sampled
                    lines.append("you wrote the same code again and it still fails: change the code that causes "
                                 "the problem, do not repeat it.")
                    resample = True
                if problems:
                    repairs += 1
                    if repairs > cfg.repair_rounds:
                        return end("gave_up", f"still failing after {cfg.repair_rounds} repair rounds: "
                                   + "; ".join(lines[-3:])[:400])
                if first is not None:
                    # the same reply as an earlier turn: a model shown its own reply twice copies it again,
                    # so rewind the conversation to before that reply and sample a different one
                    del messages[first:]
                    session.log("rewind", keep=first)
                    resample = True
                    continue
                msg = prompts.results_message(lines, problems)
                messages.append({"role": "user", "content": msg})
                session.log("message", role="user", content=msg)
            return end("max_turns", f"stopped after {cfg.max_turns} turns")
        except KeyboardInterrupt:
            return end("interrupted", "interrupted by the user")

    def _is_workspace_file(self, rel: str) -> bool:
        try:
            return self.ws.resolve(rel).is_file()
        except ToolError:
            return False

    def _unstuck(self, turn: int) -> SamplingParams:
        """Sampling for a turn after the model rewrote a failing file unchanged: greedy decoding would
        give the same answer again, so sample (temperature UNSTICK_TEMPERATURE, top-p 0.95), seeded
        by the turn so a run stays reproducible."""
        base = self.config.sampling
        return SamplingParams(temperature=max(base.temperature, UNSTICK_TEMPERATURE), top_p=min(base.top_p, 0.95),
                              top_k=base.top_k, seed=(base.seed or 0) + turn)

    def _ask(self, messages: list[dict], max_tokens: int, sampling: SamplingParams) -> Done:
        cfg = self.config
        done = None
        for ev in self.backend.stream_chat(ChatRequest(list(messages), max_tokens=max_tokens, sampling=sampling,
                                                       speculate=cfg.speculate)):
            if isinstance(ev, TextDelta):
                self.ui.text(ev.text)
            elif isinstance(ev, Done):
                done = ev
        if done is None:
            raise RuntimeError(f"backend {self.backend.name} ended without a reply")
        return done

    def _execute(self, actions: list[Action], session: Session):
        lines: list[str] = []
        changed: list[str] = []
        finished, summary, failed = False, "", False
        for a in actions:
            if a.tool == "finish":
                finished, summary = True, str(a.args.get("summary", ""))
                continue
            result = self.toolbox.call(a.tool, a.args)
            self.ui.action(a, result)
            session.log("tool", name=a.tool, args=_brief_args(a.args), ok=result.ok, output=result.output[:4000])
            changed += result.changed_files
            failed |= not result.ok
            head = f"{a.tool} {a.args.get('path') or a.args.get('command') or ''}".strip()
            lines.append(f"{head}: {'ok' if result.ok else 'FAILED'}" + (f"\n{result.output}" if result.output else ""))
        return lines, changed, finished, summary, failed


def _brief_args(args: dict) -> dict:
    return {k: (v if not isinstance(v, str) or len(v) < 400 else v[:400] + f"… ({len(v)} chars)") for k, v in args.items()}
