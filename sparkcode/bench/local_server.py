"""Servers a benchmark (and the test suite) starts on this machine: a free TCP port, sparkcode's app served in this
process by uvicorn on 127.0.0.1 (`serving`), and waiting until its scheduler is idle (`wait_idle`)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app, port: int | None = None, ws_max_size: int = 4 << 20):
    """Serve `app` on 127.0.0.1 (`port`, or a free one) in a thread; yields the port."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           ws_max_size=ws_max_size))
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)


def wait_idle(port: int, timeout: float = 60) -> None:
    """Until the scheduler has finished the last job (so the engine may be touched from here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/health")
            h = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        if h["in_flight"] == 0 and h["queue_depth"] == 0:
            return
        time.sleep(0.02)
    raise RuntimeError("the server did not become idle")
