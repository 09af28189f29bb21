"""Persistent chat sessions over a WebSocket: ``/v1/sessions/ws``.

The server keeps the conversation, so each turn re-sends a prefix the backend has already
evaluated and its prefix cache makes the next turn start fast. Protocol (JSON text frames):

client -> server
  {"type": "start", "mode": "chat", "system": "...", "max_tokens": 512, ...}   optional, first
  {"type": "message", "content": "..."}                                        one turn
  {"type": "cancel"}                                                           stop the turn
server -> client
  {"type": "ready", "model": "...", "mode": "chat"}                 after start (or the 1st message)
  {"type": "token", "text": "..."}                                  streamed
  {"type": "done", "text": "...", "finish_reason": "...", "stats": {...}, "turn": n}
  {"type": "error", "message": "...", "code": "..."}                the socket stays open

``mode`` picks the kind of session: "chat" (the default) is `ChatSession`; any other mode
(the coding agent is "agent", see `agent_session.py`) needs a `session_factory`. The factory
is asked first for every session, whatever the mode, and returns None to leave it to plain
chat; what it builds is an object with ``handle(message, emit)`` that emits its own event dicts
(and optionally ``ready_info`` and ``close()``). Every turn is one scheduler job, so sessions
queue with API requests, and closing the socket cancels the running turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..backends.base import Backend, ChatRequest
from ..engine.sampling import SamplingParams
from ..engine.stats import Done, TextDelta
from ..errors import SparkcodeError
from .context import ServerContext
from .errors import from_backend_failure
from .scheduler import JobFailed, QueueFull

log = logging.getLogger("sparkcode.server")


@runtime_checkable
class AgentSession(Protocol):
    """A conversation the server drives one user message at a time.

    `handle` runs on the scheduler thread (blocking is fine) and reports progress by calling
    `emit` with JSON-serialisable dicts, which go to the client as they are.
    """

    def handle(self, message: str, emit: Callable[[dict], None]) -> None: ...


# session_factory(backend, options) -> AgentSession, or None for a plain chat session. `backend`
# only works inside a turn and stops when the turn is cancelled; `options` is the client's "start"
# message without "type" (so it holds "mode" when the client chose one). Optional extras on the
# session: `ready_info` (a dict merged into the "ready" event, e.g. a session id) and `close()`
# (called once when the socket closes; a turn may still be finishing on the scheduler thread).
SessionFactory = Callable[[Backend, dict], "AgentSession | None"]

CHAT_MODE = "chat"


class SessionStart(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: str = "start"
    mode: Literal["chat"] = "chat"
    system: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None


class ChatSession:
    """Plain chat with server-side history."""

    def __init__(self, backend: Backend, *, system: str | None = None, max_tokens: int = 1024,
                 sampling: SamplingParams | None = None):
        self.backend = backend
        self.history: list[dict] = [{"role": "system", "content": system}] if system else []
        self.max_tokens = max_tokens
        self.sampling = sampling or SamplingParams()
        self.turn = 0

    def handle(self, message: str, emit: Callable[[dict], None]) -> None:
        self.history.append({"role": "user", "content": message})
        request = ChatRequest(messages=[dict(m) for m in self.history], max_tokens=self.max_tokens,
                              sampling=self.sampling)
        done = None
        try:
            for ev in self.backend.stream_chat(request):
                if isinstance(ev, TextDelta):
                    if ev.text:
                        emit({"type": "token", "text": ev.text})
                elif isinstance(ev, Done):
                    done = ev
        except BaseException:
            self.history.pop()  # the turn did not happen; the client may retry it
            raise
        if done is None:
            self.history.pop()
            raise RuntimeError(f"backend {self.backend.name} ended without a Done event")
        self.history.append({"role": "assistant", "content": done.text})
        self.turn += 1
        emit({"type": "done", "text": done.text, "finish_reason": done.finish_reason,
              "stats": done.stats.to_dict(), "turn": self.turn})


def _error(message: str, code: str | None = None) -> dict:
    return {"type": "error", "message": message, "code": code}


class _Connection:
    """One socket: parses frames, runs one turn at a time, forwards the turn's events."""

    def __init__(self, ctx: ServerContext, ws: WebSocket):
        self.ctx, self.ws = ctx, ws
        self.session: Any = None
        self.job = None  # the latest turn's job
        self.turn_open = False  # a turn was submitted and has not sent its "done" (or failed) yet
        self._forwards: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()

    async def send(self, event: dict) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(event, ensure_ascii=False, default=str))

    async def run(self) -> None:
        await self.ws.accept()
        try:
            while True:
                frame = await self.ws.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                text = frame.get("text")
                if text is None:
                    await self.send(_error("send JSON text frames", "bad_frame"))
                    continue
                await self.on_text(text)
        finally:
            await self.stop_turn()
            close = getattr(self.session, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.exception("closing the session failed")

    async def on_text(self, text: str) -> None:
        if len(text.encode()) > self.ctx.max_body_bytes:
            return await self.send(_error(f"message exceeds {self.ctx.max_body_bytes} bytes", "too_large"))
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as e:
            return await self.send(_error(f"invalid JSON: {e.msg}", "invalid_json"))
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "start":
            await self.on_start(msg)
        elif kind == "message":
            await self.on_message(msg)
        elif kind == "cancel":
            if self.job is not None:
                self.ctx.scheduler.cancel(self.job)
        else:
            await self.send(_error('unknown message; expected {"type": "start" | "message" | "cancel"}',
                                   "bad_message"))

    async def on_start(self, msg: dict) -> None:
        if self.session is not None:
            return await self.send(_error("the session has already started", "already_started"))
        await self.start(msg)

    async def start(self, msg: dict) -> bool:
        mode = msg.get("mode", CHAT_MODE)
        if not isinstance(mode, str) or not mode:
            await self.send(_error('invalid start: mode must be a string such as "chat" or "agent"', "invalid_start"))
            return False
        try:
            session = None
            if self.ctx.session_factory is not None:
                options = {k: v for k, v in msg.items() if k != "type"}
                session = await asyncio.to_thread(self.ctx.session_factory, self.ctx.scheduler.backend, options)
            if session is None:
                if mode != CHAT_MODE:
                    known = "agent sessions are not enabled on this server (start it with a workspace)" \
                        if mode == "agent" else f'unknown mode {mode!r}; use "chat" or "agent"'
                    await self.send(_error(known, "mode_unavailable"))
                    return False
                session = self.chat_session(msg)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            await self.send(_error(f"invalid start: {where}: {first.get('msg')}", "invalid_start"))
            return False
        except SparkcodeError as e:
            await self.send(_error(str(e), "invalid_start"))
            return False
        except Exception as e:  # a broken session factory must not take the socket down
            log.exception("session factory failed")
            await self.send(_error(f"could not start the session: {type(e).__name__}: {e}", "start_failed"))
            return False
        self.session = session
        info = getattr(session, "ready_info", None)
        await self.send({"type": "ready", "model": self.ctx.model_name, "mode": mode,
                         **(info if isinstance(info, dict) else {})})
        return True

    def chat_session(self, msg: dict) -> ChatSession:
        opts = SessionStart.model_validate(msg)
        sampling = SamplingParams(**{k: v for k, v in (("temperature", opts.temperature), ("top_p", opts.top_p),
                                                       ("top_k", opts.top_k), ("seed", opts.seed)) if v is not None})
        max_tokens = min(opts.max_tokens or self.ctx.max_tokens_cap, self.ctx.max_tokens_cap)
        return ChatSession(self.ctx.scheduler.backend, system=opts.system, max_tokens=max_tokens, sampling=sampling)

    async def on_message(self, msg: dict) -> None:
        content = msg.get("content")
        if not isinstance(content, str) or not content.strip():
            return await self.send(_error('a message needs a non-empty string "content"', "bad_message"))
        if self.turn_open:
            return await self.send(_error("a turn is already running; wait for done or send cancel", "busy"))
        if self.session is None and not await self.start({"type": "start"}):
            return
        session = self.session
        try:
            self.job = self.ctx.scheduler.submit(lambda job: session.handle(content, job.emit),
                                                 self.ctx.request_timeout_s)
        except QueueFull as e:
            return await self.send(_error(str(e), "queue_full"))
        self.turn_open = True
        task = asyncio.create_task(self.forward(self.job))
        self._forwards.add(task)
        task.add_done_callback(self._forwards.discard)

    async def forward(self, job) -> None:
        # The turn is over for the client once "done" is sent, even if the job is still returning
        # on the scheduler thread: a client may send its next message at once. That message's job
        # queues behind this one (one worker thread), so two turns of a session never overlap.
        try:
            async for event in job.stream():
                await self.send(event)
                if isinstance(event, dict) and event.get("type") == "done" and job is self.job:
                    self.turn_open = False
        except JobFailed as e:
            if job is self.job:
                self.turn_open = False
            await self.send(_error(from_backend_failure(e.error).message, "turn_failed"))
        except Exception:  # the socket is gone; the receive loop will notice and clean up
            self.ctx.scheduler.cancel(job)
        finally:
            if job is self.job:
                self.turn_open = False

    async def stop_turn(self) -> None:
        if self.job is not None:
            self.ctx.scheduler.cancel(self.job)
        for task in list(self._forwards):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def sessions_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter()

    @router.websocket("/v1/sessions/ws")
    async def session_ws(ws: WebSocket):
        await _Connection(ctx, ws).run()

    return router
