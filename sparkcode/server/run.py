"""Running the server: `serve`, and the rule that only loopback may go without an API key."""

from __future__ import annotations

import ipaddress
import os

from ..backends.base import Backend
from ..errors import SparkcodeError
from .sessions import SessionFactory

API_KEY_ENV = "SPARKCODE_API_KEY"


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a public interface


def resolve_api_key(host: str, api_key: str | None) -> str | None:
    """The key to enforce (argument, else $SPARKCODE_API_KEY); refuses a public bind without one."""
    key = (api_key or os.environ.get(API_KEY_ENV) or "").strip() or None
    if key is None and not is_loopback(host):
        raise SparkcodeError(
            f"refusing to listen on {host!r} without an API key: anyone who can reach this machine could use it. "
            f"Set {API_KEY_ENV} (or pass --api-key), or bind to 127.0.0.1.")
    return key


def serve(backend: Backend, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, *,
          cors_origins: list[str] | None = None, max_queue: int = 8, max_body_bytes: int = 1_000_000,
          max_tokens_cap: int = 4096, request_timeout_s: float = 300,
          session_factory: SessionFactory | None = None, log_level: str = "info", parallel: int = 1) -> None:
    """Serve `backend` until interrupted. Blocks."""
    import uvicorn

    from .app import create_app

    key = resolve_api_key(host, api_key)
    app = create_app(backend, api_key=key, cors_origins=cors_origins, max_queue=max_queue,
                     max_body_bytes=max_body_bytes, max_tokens_cap=max_tokens_cap,
                     request_timeout_s=request_timeout_s, session_factory=session_factory, parallel=parallel)
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws_max_size=max(max_body_bytes, 65536),
                timeout_graceful_shutdown=5)
