"""The agent loop: act -> verify -> decide, until done, unverified or a limit.

- **act** (`_act`): the backend streams a reply (cut early if it starts repeating itself);
  `actions.parse_reply` turns it into tool calls; the `Toolbox` runs them (the workspace is
  checkpointed before the first change). The result is one typed `Turn`. When an attempt's
  first reply fails its checks, more are drawn at once and the best-checked one kept (`_best_of`).
- **verify** (`verify.run_verifiers`): small verifiers behind one Protocol — file checks
  (syntax, pages played in Chromium, the workspace's tests), the API guard, the rename search,
  and acceptance tests the model wrote from the task statement (`acceptance.py`).
- **decide** (`_decide`): failures go back to the model as the next user message; the
  `StuckDetector` escalates when the model repeats itself (note -> sample -> abandon the attempt
  for a fresh start, or rewind when none is left -> give up);
  a clean turn that finished (or wrote and passed) ends the run.

Every way a run ends is an explicit `Outcome.status`:

- ``done``: no check fails and at least one check ran the code's behaviour and passed (tests,
  a page played, a program run), with nothing left that could not be checked here;
- ``unverified``: no check fails, but nothing ran its behaviour, or some check could not run
  here (the summary says which, and how to get it);
- ``max_turns`` / ``max_tokens`` / ``timeout``: a limit was hit;
- ``gave_up``: checks or malformed replies kept failing past the repair budget, or the model
  stayed stuck;
- ``interrupted``: Ctrl-C (the workspace stays as the last tool left it; `sparkcode undo` restores).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field

from ..backends.base import Backend, ChatRequest, batches, complete_many
from ..engine.sampling import SamplingParams
from ..engine.stats import Done, TextDelta
from . import prompts
from .acceptance import TEST_PATH, AcceptanceTests, original_files, preserves_behaviour
from .actions import Action, parse_reply
from .candidates import batch_stats, candidate_samplings
from .checkpoint import STATE_DIR, Checkpoint
from .checks import CheckResult, is_game
from .defaults import own_copies_of_mutable_defaults
from .dialogs import replace_dialogs
from .imports import add_missing_imports
from .leaks import drop_tool_functions
from .pytest_report import brief
from .rename import finish_renames
from .stderr import errors_to_stderr
from .names import files_named, removal_asked
from .session import Session
from .results import Outcome, Reporter, SilentReporter, Turn, TurnStats
from .stuck import RepetitionGuard, StuckDetector, unstick_sampling
from .tools import Toolbox
from .verify import (ApiGuard, FileChecks, OutOfTime, RenameGone, Verdict, Verifier, VerifyContext, cut, past,
                     raise_if_cut, run_verifiers)
from .workspace import ToolError, Workspace


@dataclass
class AgentConfig:
    max_turns: int = 8  # turns per attempt (a fresh start gets its own); the wall-time limit bounds the run
    max_tokens_per_turn: int = 3072
    max_total_tokens: int = 24_000
    wall_limit_s: float = 900
    repair_rounds: int = 3  # failed repair rounds in a row before giving up (when no fresh start is left)
    fresh_after: int = 2  # failed repair rounds in a row, writing no new file, before starting afresh
    max_fresh: int = 2  # fresh starts per run
    command_timeout: float = 30
    speculate: str = "auto"
    sampling: SamplingParams = field(default_factory=SamplingParams)
    auto_finish: bool = True  # files written this turn all pass their checks -> end without asking the model
    browser_check: bool = True  # play written HTML pages in headless Chromium when it is installed
    acceptance: bool = True  # the model writes acceptance tests from the task (a separate short generation)
    candidates: int = 1  # replies drawn at once at the start of an attempt, the best-checked kept (candidates.py)
    style: str = "terse"  # system prompt style, see prompts.system_prompt


@dataclass
class _Run:
    """The state of one run of the loop."""

    session: Session
    task: str
    verifiers: list[Verifier]
    t0: float = field(default_factory=time.perf_counter)
    deadline: float = float("inf")  # time.perf_counter() at the wall-time limit: every generation is cut there
    turns: list[TurnStats] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # files the run changed
    touched: list[str] = field(default_factory=list)  # files the model wrote, changed or not
    latest: dict[str, CheckResult] = field(default_factory=dict)  # each check's latest result
    tokens_used: int = 0
    repairs: int = 0  # failed repair rounds since the (last fresh) start
    stalled: int = 0  # of those, in a row, the ones that wrote no file the run had not written yet
    progressed: bool = False  # this turn changed a file the run had not written before, or fails less than any before
    lowest: tuple | None = None  # the lowest badness of this attempt (since the start or the last fresh start)
    checkpointed: bool = False
    stuck: StuckDetector = field(default_factory=StuckDetector)
    base: int = 0  # messages before the run's first reply: where a fresh start goes back to
    first: str = ""  # the task message as the run began (a fresh start adds to a copy of it)
    start: str | None = None  # checkpoint of the workspace before the run's first change
    fresh: int = 0  # fresh starts so far
    attempt_turns: int = 0  # turns since the run's start or its last fresh start
    best: tuple | None = None  # (badness, checkpoint, turn, written, latest) of the best-checked version so far
    badness: tuple | None = None  # (behaviour not run, failed checks and cases) of the version in the workspace now


@dataclass
class _Before:
    """Where every candidate of an attempt starts: the files (a snapshot) and what the run knew."""

    version: str
    written: list[str]
    touched: list[str]
    latest: dict[str, CheckResult]


class Agent:
    def __init__(self, backend: Backend, workspace: Workspace, config: AgentConfig | None = None,
                 reporter: Reporter | None = None, verifiers: list[Verifier] | None = None):
        self.backend = backend
        self.ws = workspace
        self.config = config or AgentConfig()
        self.ui = reporter or SilentReporter()
        self.toolbox = Toolbox(workspace, command_timeout=self.config.command_timeout)
        self.verifiers = verifiers  # None: the standard set, built per run (see _verifiers)

    def run(self, task: str) -> Outcome:
        session = Session(self.ws.root)
        session.log("task", task=task, backend=self.backend.name, mode=self.ws.mode)
        messages = [{"role": "system", "content": prompts.system_prompt(self.config.style)},
                    {"role": "user", "content": prompts.first_message(task, self.ws.tree_summary())}]
        for m in messages:
            session.log("message", **m)
        return self._loop(messages, self._start(session, task))

    def resume(self, session: Session, message: str) -> Outcome:
        messages = session.messages()
        if not messages:
            messages = [{"role": "system", "content": prompts.system_prompt(self.config.style)}]
        messages.append({"role": "user", "content": message})
        session.log("message", role="user", content=message)
        task = f"{session.task() or ''}\n{message}".strip()
        return self._loop(messages, self._start(session, task))

    def _start(self, session: Session, task: str) -> _Run:
        # a whole-file rewrite keeps what it left out unless this task asks for it to go
        self.toolbox.may_drop = lambda name: removal_asked(task, name)
        run = _Run(session, task, self._verifiers(task, session))
        run.deadline = run.t0 + self.config.wall_limit_s
        return run

    def _verifiers(self, task: str, session: Session) -> list[Verifier]:
        if self.verifiers is not None:
            return self.verifiers
        api = ApiGuard(self.ws, task)  # reads the public names the workspace has before the run
        out: list[Verifier] = [FileChecks(), api, RenameGone(task)]
        if self.config.acceptance and self.ws.can_run:
            original = original_files(self.ws) if preserves_behaviour(task) else None
            out.append(AcceptanceTests(self.backend, speculate=self.config.speculate, note=self.ui.note,
                                       log=lambda reply: session.log("acceptance_reply", content=reply),
                                       original=original, existing=set(api.before)))
        return out

    # ------------------------------------------------------------------------------------
    def _loop(self, messages: list[dict], run: _Run) -> Outcome:
        cfg = self.config
        run.base = len(messages)
        try:
            n = 0
            while True:
                if run.attempt_turns >= cfg.max_turns and not self._start_afresh(
                        messages, run, f"{cfg.max_turns} turns used"):
                    return self._end(run, "max_turns", f"stopped after {n} turns ({cfg.max_turns} in the last attempt)")
                n += 1
                run.attempt_turns += 1
                if past(run.deadline):
                    return self._end(run, "timeout", f"wall-time limit of {cfg.wall_limit_s:.0f} s reached")
                budget = min(cfg.max_tokens_per_turn, cfg.max_total_tokens - run.tokens_used)
                if budget <= 0:
                    return self._end(run, "max_tokens", f"token budget of {cfg.max_total_tokens} used up")
                self.ui.turn_start(n)
                # once the model got stuck, greedy decoding would lead it back: sample from then on
                # (a fresh start must sample too, or it writes the first attempt again)
                stuck_or_fresh = run.stuck.sampling_needed or run.fresh
                sampling = unstick_sampling(cfg.sampling, n, run.fresh) if stuck_or_fresh else cfg.sampling
                k = self._candidates(messages, run)
                before = self._as_now(run) if k > 1 else None  # where the other candidates would start from
                if k > 1 and run.fresh:
                    # an attempt after a failed one: its first reply alone passed in none of 13 fresh starts
                    # (bench tasks' session logs), so all k are written together (1.84x one reply, not 2.49x)
                    t_verify = time.perf_counter()
                    turn, verdict, gen_s = self._best_of(None, None, before, messages, budget, sampling, run, k)
                    t_verify += gen_s  # generation is model time, not verification
                else:
                    turn = self._act(messages, budget, sampling, run)
                    t_verify = time.perf_counter()
                    verdict = self._verify(turn, run, ranking=k > 1)
                    if before is not None and not _clean(turn, verdict):
                        turn, verdict, more_s = self._best_of(turn, verdict, before, messages, budget, sampling, run, k)
                        t_verify += more_s  # the other candidates' generation is model time, not verification
                self._keep_if_best(n, turn, verdict, run)
                self._record(n, turn, verdict, run, time.perf_counter() - t_verify)
                ended = self._decide(n, turn, verdict, messages, run)
                if ended is not None:
                    return ended
        except KeyboardInterrupt:
            return self._end(run, "interrupted", "interrupted by the user")
        except OutOfTime:
            return self._end(run, "timeout", f"wall-time limit of {cfg.wall_limit_s:.0f} s reached during a turn")

    # ---- act ----------------------------------------------------------------------------
    def _candidates(self, messages: list[dict], run: _Run) -> int:
        """How many replies to draw for this turn: `candidates` at the start of an attempt (nothing
        answered since the task: the first turn, a fresh start), where the backend decodes them
        together and the workspace can be put back between them; else one."""
        k = self.config.candidates
        if k <= 1 or len(messages) != run.base or not self.ws.can_write or not batches(self.backend):
            return 1
        return k

    def _act(self, messages: list[dict], budget: int, sampling: SamplingParams, run: _Run) -> Turn:
        guard = RepetitionGuard()
        done = None
        request = ChatRequest(list(messages), max_tokens=budget, sampling=sampling, speculate=self.config.speculate,
                              should_stop=lambda: guard.tripped or past(run.deadline))
        for ev in self.backend.stream_chat(request):
            if isinstance(ev, TextDelta):
                self.ui.text(ev.text)
                guard.feed(ev.text)
            elif isinstance(ev, Done):
                done = ev
        if done is None:
            raise RuntimeError(f"backend {self.backend.name} ended without a reply")
        run.tokens_used += done.stats.decode_tokens
        return self._apply(done, guard, run)

    def _apply(self, done: Done, guard: RepetitionGuard, run: _Run) -> Turn:
        """Carry out a reply's actions in the workspace: the turn it makes."""
        raise_if_cut(done.finish_reason, run.deadline)
        if guard.tripped:
            self.ui.note(f"{guard.why}: cut, and the turn is sampled again")
            run.session.log("runaway", content=done.text[-4000:])
            return Turn(done.text, done.stats, [], [], [], [], [], False, "", False, runaway=True)
        t_tools = time.perf_counter()
        actions, errors = parse_reply(done.text, list(self.ws.list_files()), files_named(run.task))
        if not run.checkpointed and any(a.tool in ("write_file", "edit_file", "run") for a in actions):
            if self.ws.can_write:
                run.start = Checkpoint(self.ws.root, run.session.run_id).snapshot(f"before run {run.session.run_id}")
            run.checkpointed = True
        lines, changed, finished, summary, failed = self._execute(actions, run.session, run.task)
        # as the workspace names them ("./snake.html" is snake.html: measured, both were checked and reported)
        written = [self.ws.relpath(str(a.args["path"])) for a in actions
                   if a.tool in ("write_file", "edit_file") and isinstance(a.args.get("path"), str)]
        return Turn(done.text, done.stats, actions, errors, lines, changed, written, finished, summary, failed, False,
                    time.perf_counter() - t_tools)

    def _as_now(self, run: _Run) -> "_Before":
        """The workspace (a snapshot) and what the run knows of it, to put back between candidates."""
        version = Checkpoint(self.ws.root, run.session.run_id).snapshot("before the candidates")
        return _Before(version, list(run.written), list(run.touched), dict(run.latest))

    def _put_back(self, state: "_Before", version: str, run: _Run) -> None:
        """The files as `version` has them, and what the run knew before any candidate was checked."""
        Checkpoint(self.ws.root, run.session.run_id).restore(version)
        run.written, run.touched, run.latest = list(state.written), list(state.touched), dict(state.latest)
        for v in run.verifiers:
            getattr(v, "restart", lambda: None)()

    def _best_of(self, first: Turn | None, verdict: Verdict | None, before: "_Before", messages: list[dict],
                 budget: int, sampling: SamplingParams, run: _Run, k: int) -> tuple[Turn, Verdict, float]:
        """The first reply of an attempt failed its checks: draw k - 1 more at once (candidates.py,
        decoded together), carry out each on the files as they were before the first, check it,
        and keep the one of all k whose checks fail least; the first that passes every check ends
        the search. With no `first`, all k are drawn together (an attempt whose first reply is
        unlikely to pass). Candidates are checked as they are (no test is reviewed between them, so
        each is judged by the same tests); the kept one is checked again unless it was the last.
        Returns the kept turn (with the stats of all k), its verdict, and the seconds spent writing."""
        checkpoint = Checkpoint(self.ws.root, run.session.run_id)
        samplings = candidate_samplings(sampling, k, run.fresh, copied=first is not None and not first.changed)
        best = None
        if first is not None:
            score = self._score(first, verdict, run)
            best = (score, 0, first, checkpoint.snapshot("candidate 1"))
            run.session.log("candidate", index=1, of=k, score=list(score), finish="", reply=first.reply[:6000])
            samplings = samplings[1:]
            self.ui.note(f"the first reply fails its checks: writing {k - 1} more at once; the best of the {k} is kept")
        else:
            self.ui.note(f"writing {k} replies at once; the best-checked one is kept")
        shift = k - len(samplings)  # the index of the first reply drawn here
        guards = [RepetitionGuard() for _ in samplings]
        requests = [ChatRequest(list(messages), max_tokens=budget, sampling=s, speculate=self.config.speculate,
                                should_stop=lambda g=g: g.tripped or past(run.deadline))
                    for s, g in zip(samplings, guards)]

        def on_text(i: int, text: str) -> None:
            guards[i].feed(text)
            if i + shift == 0:
                self.ui.text(text)  # the user watches one of them being written

        t0 = time.perf_counter()
        dones = complete_many(self.backend, requests, on_text=on_text)
        more_s = time.perf_counter() - t0
        run.tokens_used += sum(d.stats.decode_tokens for d in dones)
        last = 0
        for i, (done, guard) in enumerate(zip(dones, guards), start=shift):
            if best is not None and cut(done.finish_reason, run.deadline):
                break  # the rest were cut at the limit: the best so far stays (measured: a timeout while
                # candidates 2 and 3 were written put the files back as before them, and csvsum.py was lost)
            self._put_back(before, before.version, run)
            self.ui.note(f"candidate {i + 1} of {k}")
            turn = self._apply(done, guard, run)
            verdict = self._verify(turn, run, ranking=True)
            score, last = self._score(turn, verdict, run), i
            run.session.log("candidate", index=i + 1, of=k, score=list(score), finish=done.finish_reason,
                            reply=done.text[:6000])
            if best is None or score < best[0]:
                best = (score, i, turn, checkpoint.snapshot(f"candidate {i + 1}"))
            if _clean(turn, verdict):
                break
        score, chosen, turn, version = best
        self.ui.note(f"kept candidate {chosen + 1} of {k}")
        run.session.log("candidate_kept", index=chosen + 1, of=k, score=list(score))
        turn.stats = batch_stats(first.stats if first is not None else None, dones)
        if chosen != last:
            self._put_back(before, version, run)
            verdict = self._verify(turn, run)
        return turn, verdict, more_s

    def _score(self, turn: Turn, verdict: Verdict, run: _Run) -> tuple:
        """How a candidate ranks (lower is better): a reply that changed no file last (one that wrote
        the files as they were changed nothing either: measured, the 1.5B copies a buggy file unchanged),
        then `_badness`."""
        return (turn.runaway or not turn.changed, *self._badness(verdict, run))

    def _execute(self, actions: list[Action], session: Session, task: str):
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
            head = f"{a.tool} {a.args.get('path') or a.args.get('command') or a.args.get('pattern') or ''}".strip()
            lines.append(f"{head}: {'ok' if result.ok else 'FAILED'}" + (f"\n{result.output}" if result.output else ""))
        renamed = finish_renames(self.ws, task) if changed else []
        changed += [rel for rel, _ in renamed if rel not in changed]
        fixes = ([n for _, n in renamed] + drop_tool_functions(self.ws, changed, task) + add_missing_imports(self.ws, changed)
                 + errors_to_stderr(self.ws, changed) + own_copies_of_mutable_defaults(self.ws, changed)
                 + replace_dialogs(self.ws, changed, task))
        for note in fixes:  # once all are written
            self.ui.note(note)
            session.log("fixup", note=note)
            lines.append(note)
        return lines, changed, finished, summary, failed

    # ---- verify -------------------------------------------------------------------------
    def _verify(self, turn: Turn, run: _Run, ranking: bool = False) -> Verdict:
        run.progressed = any(w not in run.touched for w in turn.changed)
        run.written += turn.changed
        # files the model wrote, changed or not: rewriting a file unchanged is a claim that it is right
        run.touched += [w for w in turn.changed + turn.written if w not in run.touched]
        if turn.runaway or not run.touched:
            return Verdict([])
        # what the model wrote this turn, changed or not (a failing file rewritten unchanged must fail
        # again), and after any change the files still failing (a page may load the script just changed)
        targets = turn.changed + turn.written
        if turn.changed:  # files only: not the verifiers' own results (names, acceptance tests)
            targets += [p for p, c in run.latest.items() if not c.ok and not p.startswith(STATE_DIR + "/")]
        ctx = VerifyContext(self.ws, run.task, list(dict.fromkeys(targets)), list(run.touched),
                            game=is_game(run.task), timeout=self.config.command_timeout,
                            browser=self.config.browser_check, ranking=ranking,
                            deadline=run.deadline)
        verdict = run_verifiers(run.verifiers, ctx)
        if verdict.results:
            self.ui.checks(verdict.results)
            run.session.log("checks", results=[asdict(c) for c in verdict.results])
        run.latest.update((c.path, c) for c in verdict.results)
        return verdict

    def _record(self, n: int, turn: Turn, verdict: Verdict, run: _Run, verify_s: float) -> None:
        s = turn.stats
        gen = [st for v in run.verifiers for st in getattr(v, "stats", [])]
        verify_tokens = sum(st.decode_tokens for st in gen) - sum(t.verify_tokens for t in run.turns)
        ts = TurnStats(n, s.prompt_tokens, s.cached_tokens, s.decode_tokens, s.ttft_s, s.decode_tps, s.wall_s,
                       turn.tools_s + verify_s, s.drafted, s.accepted, verify_s, verify_tokens)
        run.tokens_used += verify_tokens
        run.turns.append(ts)
        self.ui.turn_end(ts)
        run.session.log("turn", **asdict(ts))

    # ---- decide -------------------------------------------------------------------------
    def _decide(self, n: int, turn: Turn, verdict: Verdict, messages: list[dict], run: _Run) -> Outcome | None:
        """End the run (an Outcome) or append the next user message and return None."""
        reason, at = _stuck_reason(turn, messages)
        if not turn.runaway:
            messages.append({"role": "assistant", "content": turn.reply})
            run.session.log("message", role="assistant", content=turn.reply)
        checked = {c.path for c in verdict.results}
        still = [c for p, c in run.latest.items() if not c.ok and p not in checked]
        problems = _has_problems(turn, verdict.failures + still)
        lines = list(turn.lines)
        lines += [f"check {c.path}: {'OK' if c.ok else 'FAILED'} — {c.message}" for c in verdict.results]
        lines += [f"still failing (not fixed yet): {c.path} — {c.message[:600]}" for c in still]
        lines += [f"error: {e}" for e in turn.errors]
        if problems and "```" in turn.reply and not any(a.tool in ("write_file", "edit_file") for a in turn.actions):
            lines.append(prompts.UNSAVED_BLOCKS)  # said whatever else failed (measured: unsaid, the model repeated them)

        if not problems:
            quiet = not turn.actions and not turn.errors
            # (written, changed or not: a model that stands by its code, now verified, is done)
            if turn.finished or (quiet and run.touched) or (
                    self.config.auto_finish and turn.written and not turn.wants_results):
                return self._judge(run, turn.summary)
            if quiet:
                lines = [prompts.NO_ACTION] + ([prompts.UNSAVED_BLOCKS] if "```" in turn.reply else [])
                problems = True

        # where this turn's assistant message is: a runaway reply was never appended (measured: its index
        # taken as len - 1 pointed at the task message, and a later rewind left the system prompt alone)
        here = at if at is not None else len(messages) - (0 if turn.runaway else 1)
        esc = run.stuck.observe(reason if problems else None, here)
        if esc.action in ("abandon", "give_up") and self._start_afresh(messages, run, f"stuck: {prompts.STUCK[esc.reason]}"):
            return None
        if esc.action == "give_up":
            return self._end(run, "gave_up", f"stuck: {prompts.STUCK[esc.reason]}")
        if esc.action in ("rewind", "abandon") or turn.runaway:
            keep = max(esc.rewind_to if esc.rewind_to is not None else len(messages), run.base)  # the task stays
            del messages[keep:]
            run.session.log("rewind", keep=keep)
            return None  # a rewound turn is not a repair round
        if esc.action == "note":
            lines.append(prompts.STUCK[esc.reason])
        if problems:
            run.repairs += 1
            # a change spread over files (one per turn) is progress, not a failed repair to abandon
            run.stalled = 0 if run.progressed else run.stalled + 1
            if run.stalled >= self.config.fresh_after and self._start_afresh(
                    messages, run, f"still failing after {self.config.fresh_after} repair rounds"):
                return None
            if run.repairs > self.config.repair_rounds:
                return self._end(run, "gave_up", f"still failing after {self.config.repair_rounds} repair rounds: "
                                 + "; ".join(lines[-3:])[:400])
        msg = prompts.results_message(lines, problems)
        messages.append({"role": "user", "content": msg})
        run.session.log("message", role="user", content=msg)
        return None

    # ---- fresh starts and the best version ----------------------------------------------
    def _start_afresh(self, messages: list[dict], run: _Run, why: str) -> bool:
        """Repairing in a conversation full of one wrong attempt tends to repeat it; a small model
        does better sampling a new attempt from the task (Olausson et al., "Is Self-Repair a Silver
        Bullet for Code Generation?", 2023). So: the original files come back, the conversation goes
        back to the task, the acceptance tests stay; False when no fresh start is left."""
        if run.fresh >= self.config.max_fresh or run.start is None:
            return False
        Checkpoint(self.ws.root, run.session.run_id).restore(run.start)
        del messages[run.base:]
        run.first = run.first or messages[-1]["content"]
        # the fresh attempt is told what the thrown-away one failed, briefly. Not the tests' code:
        # shown them whole, the 1.5B wrote them into the program file (measured twice: inventory.py,
        # prices.py), so only the failures' first lines go along
        failed = [line for c in run.latest.values() if not c.ok
                  for line in (brief(c.message) or [f"{c.path}: {' '.join(c.message.split())[:300]}"])]
        messages[-1] = {"role": "user", "content": prompts.fresh_start_message(run.first, failed)}
        run.session.log("rewind", keep=len(messages) - 1)  # a resumed session sees what the model saw
        run.session.log("message", **messages[-1])
        run.fresh += 1
        run.repairs, run.stuck, run.latest, run.touched, run.written = 0, StuckDetector(), {}, [], []
        run.stalled = run.attempt_turns = 0
        run.badness = run.lowest = None
        for v in run.verifiers:
            getattr(v, "restart", lambda: None)()
        self.ui.note(f"{why}: starting afresh from the original files (attempt {run.fresh + 1})")
        run.session.log("fresh_start", attempt=run.fresh + 1, why=why)
        return True

    def _badness(self, verdict: Verdict, run: _Run) -> tuple:
        """How bad the version in the workspace is, by its checks: (task-named files lost, its
        behaviour not run, failed checks and cases); lower is better."""
        # a version whose behaviour could not even be run (it does not compile, lost its API) ranks
        # below every version that ran (measured: a file overwritten with the tests failed one check,
        # the API guard, and was kept over code that failed three acceptance tests)
        ran = any(c.behavioural for c in verdict.results)
        # and a version whose acceptance tests did not run (an earlier check failed) ranks below one
        # whose tests ran; a version without a file the task names ranks below all (measured: a version
        # that had moved roman.py into a subfolder was kept because its tests never ran)
        tests = next((v for v in run.verifiers if isinstance(v, AcceptanceTests)), None)
        if tests is not None and (tests.source or tests.stated):
            ran = ran and any(c.path == TEST_PATH for c in verdict.results)
        lost = sum(1 for f in files_named(run.task) if not (self.ws.root / f).is_file() and not removal_asked(run.task, f)
                   and not re.search(rf"\b(?:mov|renam)\w*\b[^.\n]{{0,60}}{re.escape(f)}", run.task, re.I))
        return (lost, 0 if ran else 1, sum(c.badness for c in run.latest.values()))

    def _keep_if_best(self, n: int, turn: Turn, verdict: Verdict, run: _Run) -> None:
        """Rank this version (progress: it fails less than any before in this attempt) and snapshot it
        if its checks are the best so far (fewest failures, then earliest). A file rewritten unchanged
        is ranked too: it is the version the next change is measured against."""
        if not verdict.results:
            return
        badness = run.badness = self._badness(verdict, run)
        # fewer failures than any version of this attempt is progress too, not a stalled repair round
        # (measured: rle.py went from 3 failing tests to 1 in a rewrite of the same file, and was
        # thrown away for a fresh start that never got that close again)
        run.progressed = run.progressed or (run.lowest is not None and badness < run.lowest)
        run.lowest = badness if run.lowest is None else min(run.lowest, badness)
        if not turn.changed or not self.ws.can_write:
            return
        if run.best is None or badness < run.best[0]:
            commit = Checkpoint(self.ws.root, run.session.run_id).snapshot(f"best so far (turn {n})")
            run.best = (badness, commit, n, list(run.written), dict(run.latest))

    def _restore_best(self, run: _Run) -> str:
        """At an end without success: put back the best-checked version if the last one is worse."""
        if run.best is None or (run.badness is not None and run.badness <= run.best[0]):
            return ""
        _, commit, n, written, latest = run.best
        Checkpoint(self.ws.root, run.session.run_id).restore(commit)
        run.written, run.latest = written, latest
        return f" (kept the version of turn {n}, which failed fewest checks)"

    def _judge(self, run: _Run, summary: str) -> Outcome:
        """A clean end: done if behaviour was verified, else unverified with the reason."""
        results = list(run.latest.values())
        missing = list(dict.fromkeys(m for r in results for m in r.missing))
        files = ", ".join(dict.fromkeys(run.written)) or "no files"
        if any(r.ok and r.behavioural for r in results) and not missing:
            passed = [r.path for r in results if r.behavioural]
            return self._end(run, "done", summary or f"wrote {files}; verified by running: {', '.join(passed)}")
        why = "; ".join(missing) if missing else (
            "no check ran its behaviour (nothing to run)" if run.written else "no files were changed")
        return self._end(run, "unverified", f"wrote {files}; not verified: {why}")

    def _end(self, run: _Run, status: str, summary: str) -> Outcome:
        if status not in ("done", "interrupted"):
            summary += self._restore_best(run)
        results = [c for p, c in run.latest.items() if self._exists_or_virtual(p)]
        out = Outcome(status, summary, list(dict.fromkeys(run.written)), run.turns, time.perf_counter() - run.t0,
                      str(run.session.path), [asdict(c) for c in results],
                      list(dict.fromkeys(m for r in results for m in r.missing)))
        run.session.log("outcome", **{k: v for k, v in out.to_dict().items() if k != "turns"})
        return out

    def _exists_or_virtual(self, rel: str) -> bool:
        """A check of a file that still exists, or of something that is not a file (names, tests)."""
        if "." not in rel.rsplit("/", 1)[-1] or " " in rel:
            return True
        try:
            return self.ws.resolve(rel).is_file()
        except ToolError:
            return False


def _has_problems(turn: Turn, failures: list[CheckResult]) -> bool:
    """Something went back to the model: a malformed reply, a failed tool, a failing check, a runaway."""
    return bool(turn.errors or turn.tool_failed or failures or turn.runaway)


def _clean(turn: Turn, verdict: Verdict) -> bool:
    """The turn's reply was carried out without a problem and every check passed, a behavioural one
    among them, with nothing left that could not be checked here."""
    return not _has_problems(turn, verdict.failures) and not verdict.missing and verdict.behavioural


def _stuck_reason(turn: Turn, messages: list[dict]) -> tuple[str | None, int | None]:
    """(the sign of being stuck this turn, or None; for a repeated reply, where the earlier one is).
    Only counted when the turn also has problems."""
    if turn.runaway:
        return "runaway", None
    text = turn.reply.strip()
    earlier = next((i for i, m in enumerate(messages) if m["role"] == "assistant" and m["content"].strip() == text),
                   None)
    if earlier is not None:
        return "same_reply", earlier
    if turn.written and not turn.changed and any(m["role"] == "assistant" for m in messages):
        return "same_code", None  # (a first reply that rewrites a file unchanged claims it is right: it is checked)
    return None, None


def _brief_args(args: dict) -> dict:
    return {k: (v if not isinstance(v, str) or len(v) < 400 else v[:400] + f"… ({len(v)} chars)") for k, v in args.items()}
