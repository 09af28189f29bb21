"""The OpenAI-compatible endpoints: /v1/models, /v1/chat/completions, /v1/completions and
/v1/responses (HTTP, and WebSocket mode on the same path).

Each request becomes one `ChatRequest` and one scheduler job; a renderer per wire format
(`render.py`, `responses.py`) turns the job's events into that format's chunks or events. Non-streaming requests wait for the `Done`; streaming
requests wait for the first event before sending headers (so a failure before the first token
still gets a proper status code), then stream Server-Sent Events ending in ``data: [DONE]``.
A client that goes away cancels its job: the backend stops at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import AsyncIterator, Callable

from fastapi import APIRouter, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse

from ..engine.stats import Done
from . import openai_format as fmt
from .tool_extract import declared_tools
from .context import ServerContext
from .errors import ApiError, from_backend_failure, validation_to_api_error
from .render import ChatRenderer, Renderer, TextRenderer, render_events, stream_sse
from .responses import ResponsesRenderer, ResponsesRequest, new_id, render_whole, response_skeleton
from .scheduler import Job, JobFailed, Scheduler
from .schemas import ChatCompletionRequest, CompletionRequest


class JobStreamingResponse(StreamingResponse):
    """A stream that cancels its job however it ends (finished, client gone, server stopping)."""

    def __init__(self, content: AsyncIterator[bytes], job: Job, scheduler: Scheduler):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.job, self.scheduler = job, scheduler

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.scheduler.cancel(self.job)


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: Request, job: Job, scheduler: Scheduler):
    """While the body runs, a client disconnect cancels the job; an exception cancels it too."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                scheduler.cancel(job)
                return

    watcher = asyncio.create_task(watch())
    try:
        yield
    except BaseException:
        scheduler.cancel(job)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _collect(request: Request, job: Job, scheduler: Scheduler) -> Done:
    done = None
    async with _cancel_on_disconnect(request, job, scheduler):
        try:
            async for ev in job.stream():
                if isinstance(ev, Done):
                    done = ev
        except JobFailed as e:
            raise from_backend_failure(e.error) from None
    if done is None:
        if job.cancelled:  # the client is gone; nobody reads this
            raise ApiError(499, "client closed the request", code="client_closed")
        raise ApiError(500, "the backend ended without a result", code="backend_error")
    return done


async def _open_stream(request: Request | None, job: Job, scheduler: Scheduler) -> AsyncIterator:
    """The job's events, after waiting for the first one (so a failure before any token is still an
    error answer, not a broken stream). With an HTTP `request`, a disconnect meanwhile cancels the job."""
    events = job.stream()
    watch = _cancel_on_disconnect(request, job, scheduler) if request is not None else contextlib.nullcontext()
    async with watch:
        try:
            first = await anext(events)
        except StopAsyncIteration:
            first = None
        except JobFailed as e:
            raise from_backend_failure(e.error) from None

    async def chained():
        if first is not None:
            yield first
            async for ev in events:
                yield ev

    return chained()


def openai_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter()

    def model_card() -> dict:
        return {"id": ctx.model_name, "object": "model", "created": 0, "owned_by": "sparkcode"}

    @router.get("/v1/models")
    async def list_models():
        # `models` is what Codex reads from a provider's /models; an empty list makes it keep its
        # own defaults (a partial entry would fail its strict decoding, a full one would replace
        # its base instructions).
        return {"object": "list", "data": [model_card()], "models": []}

    @router.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        ctx.check_model(model_id)
        return model_card()

    async def respond(request: Request, chat, stream: bool, render_done, renderer: Callable[[], Renderer]):
        """Queue the generation; answer with one JSON body, or stream the renderer's events as SSE."""
        job = ctx.submit_chat(chat)
        if not stream:
            return JSONResponse(render_done(await _collect(request, job, ctx.scheduler)))
        events = await _open_stream(request, job, ctx.scheduler)
        return JobStreamingResponse(stream_sse(events, renderer()), job, ctx.scheduler)

    @router.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        ctx.check_model(body.model)
        chat = body.to_chat_request(ctx.max_tokens_cap)
        tools_on, declared = chat.tools is not None, declared_tools(chat.tools)
        cid = fmt.new_id("chatcmpl")
        return await respond(request, chat, body.stream,
                             lambda done: fmt.chat_completion(cid, ctx.model_name, done, tools_on, declared),
                             lambda: ChatRenderer(cid, ctx.model_name, chat.tools, body.include_usage()))

    @router.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        """Text completion, sent to the backend as one user message (the Backend protocol is chat-only)."""
        ctx.check_model(body.model)
        chat = body.to_chat_request(ctx.max_tokens_cap)
        prefix = body.prompt_text() if body.echo else ""
        cid = fmt.new_id("cmpl")
        return await respond(request, chat, body.stream,
                             lambda done: fmt.text_completion(cid, ctx.model_name, done, prefix),
                             lambda: TextRenderer(cid, ctx.model_name, prefix, body.include_usage()))

    def prepare_response(body: ResponsesRequest) -> tuple:
        """The backend request and the renderer for one Responses request (stores it when done)."""
        ctx.check_model(body.model)
        history = ctx.responses.history(body.previous_response_id)
        chat, items, warnings = body.to_chat_request(ctx.max_tokens_cap, history)
        rid = new_id("resp")

        def store(response: dict) -> None:
            ctx.responses.put(rid, history + items + response["output"])

        skeleton = response_skeleton(body, rid, ctx.model_name, warnings)
        return chat, ResponsesRenderer(skeleton, chat.tools, store)

    @router.post("/v1/responses")
    async def responses(body: ResponsesRequest, request: Request):
        chat, renderer = prepare_response(body)
        return await respond(request, chat, body.stream, lambda done: render_whole(renderer, done),
                             lambda: renderer)

    @router.websocket("/v1/responses")
    async def responses_ws(ws: WebSocket):
        """WebSocket mode: each `response.create` message streams its events back as text frames."""
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                frame = await ws.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                text = frame.get("text")
                if text is None and frame.get("bytes") is not None:
                    text = frame["bytes"].decode("utf-8", "replace")
                try:
                    await _ws_response(ws, text or "")
                except ApiError as e:
                    await ws.send_text(json.dumps(_ws_error(e)))

    async def _ws_response(ws: WebSocket, text: str) -> None:
        if len(text.encode()) > ctx.max_body_bytes:
            raise ApiError(413, f"message exceeds {ctx.max_body_bytes} bytes", code="too_large")
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as e:
            raise ApiError(400, f"invalid JSON: {e.msg}", code="invalid_json") from None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "response.processed":  # Codex acknowledges each response; nothing to do
            return
        if kind != "response.create":
            raise ApiError(400, f"unsupported event type {kind!r}; send {{\"type\": \"response.create\", ...}}",
                           param="type", code="invalid_event")
        try:
            body = ResponsesRequest.model_validate(msg)
        except ValidationError as e:
            raise validation_to_api_error(RequestValidationError(e.errors())) from None
        chat, renderer = prepare_response(body)
        job = ctx.submit_chat(chat)
        try:
            events = await _open_stream(None, job, ctx.scheduler)
            async for obj in render_events(events, renderer):
                await ws.send_text(json.dumps(obj, ensure_ascii=False))
        finally:
            ctx.scheduler.cancel(job)

    return router


def _ws_error(e: ApiError) -> dict:
    """A Responses WebSocket error event (`ResponseWsError`): the socket stays open."""
    return {"type": "error", "status": e.status, **e.body()}
