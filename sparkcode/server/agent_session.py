"""The coding agent as a WebSocket session: ``{"type": "start", "mode": "agent"}`` on /v1/sessions/ws.

`agent_session_factory(root)` builds the server's `session_factory`: a start with
``"mode": "agent"`` gets an `AgentWsSession` working in its own folder ``<root>/<session-id>/``;
any other start is left to plain chat (the factory returns None). The first message runs
`Agent.run(task)`; every later message continues the same conversation with `Agent.resume`
on the same session log, so the history stays on the server and the engine's prefix cache
reuses the KV of everything already said.

Events sent to the client, in order, for one message (one scheduler job):

  {"type": "token", "text": "..."}                              model text, streamed
  {"type": "tool", "name": "write_file", "ok": true, "path": "index.html", "output": "..."}
  {"type": "tool", "name": "run", "ok": false, "command": "python3 x.py", "output": "..."}
  {"type": "checks", "results": [{"path": "...", "ok": true, "message": "..."}]}
  {"type": "turn", "stats": {TurnStats}}                        after each model turn
  {"type": "done", "outcome": {Outcome.to_dict()}, "session": "<id>", "message": n}

A failure (the backend raising, say) becomes the server's ``{"type": "error"}`` event and the
socket stays open; the next message continues the conversation. A ``cancel`` (or the server's
per-turn time limit) stops the model at its next token and the run ends with outcome status
``interrupted``, as Ctrl-C does for `sparkcode run`.

A client may reattach to a session it started earlier (after a dropped connection) with
``{"type": "start", "mode": "agent", "session": "<id>"}``: the folder and its last session log
are picked up again. One socket at a time per session.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from ..agent.actions import Action
from ..agent.checks import CheckResult
from ..agent.loop import Agent, AgentConfig, Outcome, TurnStats
from ..agent.session import Session
from ..agent.tools import ToolResult, cap
from ..agent.workspace import MODES, Workspace
from ..backends.base import Backend, ChatRequest
from ..engine.stats import Done, TextDelta
from ..errors import SparkcodeError

AGENT_MODE = "agent"
TOOL_OUTPUT_CHARS = 600
RETRY_EVENT = "retry"
_SESSION_ID = re.compile(r"^[0-9a-f]{16}$")


class AgentStart(BaseModel):
    """What a client may choose for its agent session; the folder and sandbox are the server's."""

    model_config = ConfigDict(strict=True, extra="forbid")

    mode: str = AGENT_MODE
    session: str | None = None  # reattach to this earlier session id
    max_turns: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None


class _EmitReporter:
    """The agent's `Reporter`, turned into session events."""

    def __init__(self, emit: Callable[[dict], None]):
        self.emit = emit

    def turn_start(self, turn: int) -> None:
        pass  # the previous "turn" event (or the start of the message) already marks the boundary

    def text(self, delta: str) -> None:
        if delta:
            self.emit({"type": "token", "text": delta})

    def action(self, action: Action, result: ToolResult) -> None:
        ev: dict = {"type": "tool", "name": action.tool, "ok": result.ok}
        for key in ("path", "command"):
            if isinstance(action.args.get(key), str):
                ev[key] = action.args[key]
        if result.changed_files:
            ev["files"] = list(result.changed_files)
        ev["output"] = cap(result.output or "", TOOL_OUTPUT_CHARS)
        self.emit(ev)

    def note(self, message: str) -> None:
        self.emit({"type": "note", "text": message})

    def checks(self, results: list[CheckResult]) -> None:
        self.emit({"type": "checks", "results": [asdict(c) for c in results]})

    def turn_end(self, stats: TurnStats) -> None:
        self.emit({"type": "turn", "stats": asdict(stats)})


class _StopWhenCancelled:
    """The backend for the agent: a reply cut short by a cancel ends the run like Ctrl-C.

    The scheduled backend stops the model when the job is cancelled (client's "cancel", socket
    closed, time limit) and reports finish_reason "cancelled"; without this the agent would
    carry on with the cut reply. `Agent._loop` turns KeyboardInterrupt into outcome
    "interrupted" with the turns and files so far.
    """

    def __init__(self, backend: Backend):
        self.inner = backend
        self.name = backend.name

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        for ev in self.inner.stream_chat(request):
            yield ev
            if isinstance(ev, Done) and ev.finish_reason == "cancelled":
                raise KeyboardInterrupt


class _ServerSessionLog(Session):
    """The agent's session log, read so that a failed or cancelled turn does not break the conversation.

    A turn that failed or was cancelled before the model answered, or a run that stopped at a
    limit right after sending the tool results, leaves the log ending with a user message. The next
    message then carries that text too (`AgentWsSession.handle` joins them and logs a ``retry``
    event), and here the unanswered message gives way to the joined one, so the model never
    sees two user messages in a row.
    """

    def messages(self) -> list[dict]:
        out: list[dict] = []
        retry = False
        for e in self.events():
            if e["type"] == RETRY_EVENT:
                retry = True
            elif e["type"] == "message":
                m = {"role": e["role"], "content": e["content"]}
                if retry and m["role"] == "user" and out and out[-1]["role"] == "user":
                    out[-1] = m
                else:
                    out.append(m)
                retry = False
        if retry and out and out[-1]["role"] == "user":
            out.pop()  # the joined message is about to be appended by Agent.resume
        return out


class AgentWsSession:
    """One agent conversation over one socket, in its own workspace folder."""

    def __init__(self, backend: Backend, workspace: Workspace, session_id: str, *, config: AgentConfig,
                 display_root: Path, on_close: Callable[[], None] | None = None):
        self.id = session_id
        self.workspace = workspace
        self.agent = Agent(_StopWhenCancelled(backend), workspace, config)
        self.display_root = display_root
        self.log: Session | None = self._existing_log()
        self.messages_handled = 0
        self._on_close = on_close

    @property
    def ready_info(self) -> dict:
        return {"session": self.id, "resumed": self.log is not None}

    def _existing_log(self) -> Session | None:
        try:
            latest = Session.latest(self.workspace.root)
        except SparkcodeError:
            return None
        return _ServerSessionLog(self.workspace.root, latest.run_id)

    def handle(self, message: str, emit: Callable[[dict], None]) -> None:
        self.agent.ui = _EmitReporter(emit)
        if self.log is None:
            try:
                outcome = self.agent.run(message)
            finally:
                # run() creates the log; find it even when the run failed, so the next message resumes it
                self.log = self._existing_log()
        else:
            history = self.log.messages()
            if history and history[-1]["role"] == "user":  # failed, cancelled, or stopped at a limit after tool results
                message = f"{history[-1]['content']}\n\n{message}"
                self.log.log(RETRY_EVENT)
            outcome = self.agent.resume(self.log, message)
        self.messages_handled += 1
        emit({"type": "done", "outcome": self._outcome_dict(outcome), "session": self.id,
              "message": self.messages_handled})

    def _outcome_dict(self, outcome: Outcome) -> dict:
        d = outcome.to_dict()
        if outcome.status == "interrupted":
            d["summary"] = "stopped: the turn was cancelled or hit the server's time limit"
        try:  # the log's path relative to the workspace root, not the server's file system layout
            d["session"] = Path(outcome.session).relative_to(self.display_root).as_posix()
        except ValueError:
            d["session"] = Path(outcome.session).name
        return d

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


def agent_session_factory(workspace_root: Path | str, *, sandbox: str = "workspace-write",
                          config: AgentConfig | None = None, max_turns_cap: int = 16):
    """The `session_factory` for `create_app`/`serve`: agent sessions for ``mode: "agent"``, chat otherwise.

    Each agent session works in ``<workspace_root>/<session-id>/`` (created on start) with the
    given sandbox mode; `config` holds the operator's agent limits (a client may set
    ``max_turns``, at most `max_turns_cap`, and ``temperature``/``seed``).
    """
    if sandbox not in MODES:
        raise SparkcodeError(f"unknown sandbox mode {sandbox!r}; use one of {', '.join(MODES)}")
    root = Path(workspace_root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = config or AgentConfig()
    active: set[str] = set()
    lock = threading.Lock()

    def factory(backend: Backend, options: dict) -> AgentWsSession | None:
        if options.get("mode") != AGENT_MODE:
            return None
        opts = AgentStart.model_validate(options)
        if opts.session is not None:
            if not _SESSION_ID.match(opts.session) or not (root / opts.session).is_dir():
                raise SparkcodeError(f"no agent session {opts.session!r} on this server")
            sid = opts.session
        else:
            sid = secrets.token_hex(8)
        with lock:
            if sid in active:
                raise SparkcodeError(f"agent session {sid} is open on another connection")
            active.add(sid)

        def release() -> None:
            with lock:
                active.discard(sid)

        try:
            folder = root / sid
            folder.mkdir(exist_ok=True)
            cfg = base
            if opts.max_turns is not None:
                cfg = replace(cfg, max_turns=min(opts.max_turns, max_turns_cap))
            chosen = {k: v for k, v in (("temperature", opts.temperature), ("seed", opts.seed)) if v is not None}
            if chosen:
                cfg = replace(cfg, sampling=replace(cfg.sampling, **chosen))
            return AgentWsSession(backend, Workspace(folder, mode=sandbox), sid, config=cfg, display_root=root,
                                  on_close=release)
        except BaseException:
            release()
            raise

    return factory
