"""Every error the server returns, in OpenAI's shape.

Clients of an OpenAI-compatible server parse ``{"error": {"message", "type", "param", "code"}}``,
so all failures go out that way: our own `ApiError`s, FastAPI's validation errors (422 turned
into 400, as OpenAI does), Starlette's 404/405, engine errors (a bad request, 400), a full queue
(429 with Retry-After) and anything unexpected (500).
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import SparkcodeError

log = logging.getLogger("sparkcode.server")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 503: "server_error"}


class ApiError(Exception):
    """An error response: status, message, and OpenAI's param/code fields."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_bytes(status: int, message: str, code: str | None = None) -> bytes:
    """The JSON body for middleware that answers before FastAPI sees the request."""
    return json.dumps(error_body(message, _TYPES.get(status, "invalid_request_error"), None, code)).encode()


def from_engine_error(e: SparkcodeError) -> ApiError:
    """A user-caused engine failure (bad sampling params, context overflow...) is a 400."""
    msg = str(e) or type(e).__name__
    first = msg.split(" ", 1)[0]
    param = first if first in ("temperature", "top_p", "top_k", "seed", "max_tokens", "messages", "stop") else None
    if "the context holds" in msg:  # the engine's prompt-overflow message: OpenAI's code for it
        return ApiError(400, msg, code="context_length_exceeded")
    return ApiError(400, msg, param=param)


def from_backend_failure(e: BaseException) -> ApiError:
    if isinstance(e, ApiError):
        return e
    if isinstance(e, SparkcodeError):
        return from_engine_error(e)
    log.error("backend failed", exc_info=(type(e), e, e.__traceback__))
    return ApiError(500, f"the backend failed: {type(e).__name__}: {e}", code="backend_error")


def _loc_to_param(loc) -> str | None:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def validation_to_api_error(exc: RequestValidationError) -> ApiError:
    errors = exc.errors()
    if not errors:
        return ApiError(400, "invalid request body")
    e = errors[0]
    if e.get("type") == "json_invalid":
        detail = (e.get("ctx") or {}).get("error", "")
        return ApiError(400, f"We could not parse the JSON body of your request ({detail}). "
                        "Send valid JSON with Content-Type: application/json.", code="invalid_json")
    param = _loc_to_param(e.get("loc", ()))
    if param is None and e.get("type") in ("missing", "model_attributes_type", "dict_type", "model_type"):
        return ApiError(400, "the request body must be a JSON object with the fields of this endpoint "
                        "(e.g. model and messages)")
    msg = e.get("msg", "invalid value")
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return ApiError(400, f"{param}: {msg}{more}" if param else f"{msg}{more}", param=param)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        return validation_to_api_error(exc).response()

    @app.exception_handler(SparkcodeError)
    async def _sparkcode(_: Request, exc: SparkcodeError):
        return from_engine_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        msg = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return ApiError(exc.status_code, msg, code=code, headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
        return ApiError(500, f"internal error: {type(exc).__name__}", code="internal_error").response()
