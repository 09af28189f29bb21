"""The FastAPI application: OpenAI-compatible API, sessions, metrics and the web page.

`create_app` wires one backend behind one scheduler (one generation at a time, FIFO, bounded
queue) and puts the middleware in front: request metrics, CORS (only when origins are given),
the API key (when one is set), and the body-size limit. `serve` (in `run.py`) adds the rule
that a non-loopback bind needs an API key.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse, Response

from ..backends.base import Backend
from .context import ServerContext
from .errors import ApiError, install_handlers
from .metrics import Metrics
from .middleware import AuthMiddleware, BodyLimitMiddleware, MetricsMiddleware
from .openai_api import openai_router
from .scheduler import Scheduler
from .sessions import SessionFactory, sessions_router

STATIC_DIR = Path(__file__).parent / "static"
# The only files the page may load: a fixed map, so no request path ever reaches the filesystem.
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
_PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                 "Cache-Control": "no-cache"}


def create_app(backend: Backend, *, api_key: str | None = None, cors_origins: list[str] | None = None,
               max_queue: int = 8, max_body_bytes: int = 1_000_000, max_tokens_cap: int = 4096,
               request_timeout_s: float = 300, session_factory: SessionFactory | None = None,
               parallel: int = 1) -> FastAPI:
    """`parallel`: chat requests decoded together by an embedded engine (continuous batching)."""
    metrics = Metrics()
    scheduler = Scheduler(backend, max_queue=max_queue, timeout_s=request_timeout_s, on_done=metrics.observe_done,
                          on_start=metrics.observe_queue_wait, parallel=parallel)
    metrics.queue_depth = lambda: scheduler.waiting
    metrics.in_flight = lambda: scheduler.in_flight
    kv_usage = getattr(backend, "kv_usage", None)  # local engines only; a remote server keeps its own
    if kv_usage is not None:
        metrics.kv_usage = kv_usage
    ctx = ServerContext(backend=backend, scheduler=scheduler, metrics=metrics, max_tokens_cap=max_tokens_cap,
                        max_body_bytes=max_body_bytes, request_timeout_s=request_timeout_s,
                        session_factory=session_factory)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        scheduler.close()

    app = FastAPI(title="sparkcode", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.ctx = ctx
    install_handlers(app)

    @app.get("/health")
    async def health():
        out = {"status": "ok", "queue_depth": scheduler.waiting, "in_flight": scheduler.in_flight}
        kv = metrics.kv_usage()
        batch = scheduler.slot_states()
        if batch is not None:  # the batch's slots (llama-server's /slots shows the same per slot)
            out["slots"] = batch
        elif kv is not None:  # one engine sequence: one slot
            out["slots"] = [{"id": 0, "state": "busy" if scheduler.in_flight else "idle", "kv_cells_used": kv[0],
                             "kv_cells_total": kv[1]}]
        return out

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def index():
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        return _static(name)

    app.include_router(openai_router(ctx))
    app.include_router(sessions_router(ctx))

    # add_middleware wraps: the last added is the outermost
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if api_key:
        app.add_middleware(AuthMiddleware, api_key=api_key)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not found", code="not_found")
    return Response((STATIC_DIR / name).read_bytes(), media_type=media_type, headers=_PAGE_HEADERS)
