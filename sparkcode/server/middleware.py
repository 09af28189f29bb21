"""Pure ASGI middleware: request counting, API-key check, body-size limit.

Written against raw ASGI (not BaseHTTPMiddleware) so streaming responses and client-disconnect
messages pass through untouched. Order, outermost first: metrics, CORS (when enabled), auth,
body limit, the app.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_bytes
from .metrics import Metrics

# Reachable without an API key: the liveness probe and the static page (which asks for the key).
PUBLIC_PATHS = frozenset({"/health", "/", "/index.html"})
PUBLIC_PREFIXES = ("/static/",)


async def send_error(send: Send, status: int, message: str, code: str | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_bytes(status, message, code)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts every HTTP response (and WebSocket accept/deny) by endpoint and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if not counted:
                t = message["type"]
                status = (message["status"] if t == "http.response.start" else 101 if t == "websocket.accept"
                          else 403 if t == "websocket.close" else None)
                if status is not None:
                    counted = True
                    self.metrics.count_request(path, status)
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not counted:
                self.metrics.count_request(path, 500)
            raise


class AuthMiddleware:
    """Requires ``Authorization: Bearer <key>`` (constant-time compare) outside the public paths."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self._key = api_key.encode("utf-8")

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        preflight = scope["type"] == "http" and scope.get("method") == "OPTIONS"
        if public or preflight or self._authorized(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "invalid or missing API key"})
            return
        await send_error(send, 401, "Invalid or missing API key. Send it as 'Authorization: Bearer <key>'.",
                         "invalid_api_key", [(b"www-authenticate", b"Bearer")])


class BodyLimitMiddleware:
    """Reads the whole request body up front (it is small) and answers 413 past `max_bytes`.

    Then replays it to the app; later `receive()` calls go to the server, so the app still
    sees the client's disconnect.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"The request body exceeds the limit of {self.max_bytes} bytes."
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await send_error(send, 400, "invalid Content-Length header")
                if declared > self.max_bytes:
                    return await send_error(send, 413, too_large, "request_too_large",
                                            [(b"connection", b"close")])
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await send_error(send, 413, too_large, "request_too_large", [(b"connection", b"close")])
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

