"""Prometheus text-format metrics, without a client library.

Counters: requests by endpoint and status, generations by finish reason, prompt/cached/generated
tokens. Histograms: time to first token and decode speed. Gauges: queue depth and in-flight
jobs, read from the scheduler when /metrics is scraped. Updated from the event loop and the
scheduler thread, hence the lock.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable

from ..engine.stats import Done

TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TPS_BUCKETS = (1, 5, 10, 20, 40, 60, 80, 120, 200, 400)
QUEUE_WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

# Paths we label individually; anything else is "other", so scanners cannot blow up cardinality.
KNOWN_ENDPOINTS = ("/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/responses",
                   "/v1/sessions/ws")


def endpoint_label(path: str) -> str:
    if path in KNOWN_ENDPOINTS:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    if path.startswith("/static/"):
        return "/static"
    return "other"


class Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, v)] += 1
        self.sum += v
        self.count += 1

    def render(self, name: str, help: str) -> list[str]:
        lines = [f"# HELP {name} {help}", f"# TYPE {name} histogram"]
        cum = 0
        for b, c in zip(self.buckets, self.counts):
            cum += c
            lines.append(f'{name}_bucket{{le="{b}"}} {cum}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines += [f"{name}_sum {self.sum:.6f}", f"{name}_count {self.count}"]
        return lines


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self, queue_depth: Callable[[], int] = lambda: 0, in_flight: Callable[[], int] = lambda: 0):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.generations: dict[str, int] = {}
        self.tokens_generated = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.disk_cached_tokens = 0
        self.ttft = Histogram(TTFT_BUCKETS)
        self.decode_tps = Histogram(TPS_BUCKETS)
        self.queue_wait = Histogram(QUEUE_WAIT_BUCKETS)
        self.queue_depth = queue_depth
        self.in_flight = in_flight
        self.kv_usage: Callable[[], tuple[int, int] | None] = lambda: None  # (cells used, cells in all)

    def observe_queue_wait(self, seconds: float) -> None:
        with self._lock:
            self.queue_wait.observe(seconds)

    def count_request(self, path: str, status: int) -> None:
        key = (endpoint_label(path), str(status))
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def observe_done(self, done: Done) -> None:
        s = done.stats
        with self._lock:
            self.generations[done.finish_reason] = self.generations.get(done.finish_reason, 0) + 1
            self.tokens_generated += s.decode_tokens
            self.prompt_tokens += s.prompt_tokens
            self.cached_tokens += s.cached_tokens
            self.disk_cached_tokens += s.disk_cached_tokens
            if s.decode_tokens > 0:
                self.ttft.observe(s.ttft_s)
            if s.decode_tps > 0:
                self.decode_tps.observe(s.decode_tps)

    def render(self) -> str:
        with self._lock:
            out = ["# HELP sparkcode_requests_total HTTP requests by endpoint and status.",
                   "# TYPE sparkcode_requests_total counter"]
            for (ep, st), n in sorted(self.requests.items()):
                out.append(f'sparkcode_requests_total{{endpoint="{_esc(ep)}",status="{st}"}} {n}')
            out += ["# HELP sparkcode_generations_total Finished generations by finish reason.",
                    "# TYPE sparkcode_generations_total counter"]
            for reason, n in sorted(self.generations.items()):
                out.append(f'sparkcode_generations_total{{finish_reason="{_esc(reason)}"}} {n}')
            for name, help, v in (
                ("sparkcode_tokens_generated_total", "Tokens generated (decoded).", self.tokens_generated),
                ("sparkcode_prompt_tokens_total", "Prompt tokens received.", self.prompt_tokens),
                ("sparkcode_cached_prompt_tokens_total", "Prompt tokens served from the prefix cache.",
                 self.cached_tokens),
                ("sparkcode_disk_cached_prompt_tokens_total",
                 "Of the cached prompt tokens, those restored from the prompt cache on disk.", self.disk_cached_tokens),
            ):
                out += [f"# HELP {name} {help}", f"# TYPE {name} counter", f"{name} {v}"]
            out += self.ttft.render("sparkcode_ttft_seconds", "Time from request start to first token.")
            out += self.decode_tps.render("sparkcode_decode_tokens_per_second", "Decode speed per generation.")
            out += self.queue_wait.render("sparkcode_queue_wait_seconds", "Time a generation waited for the backend.")
        for name, help, fn in (("sparkcode_queue_depth", "Jobs waiting for the backend.", self.queue_depth),
                               ("sparkcode_in_flight", "Jobs running on the backend (each chat request of a batch counts).", self.in_flight)):
            out += [f"# HELP {name} {help}", f"# TYPE {name} gauge", f"{name} {fn()}"]
        kv = self.kv_usage()
        if kv is not None:
            for name, help, v in (("sparkcode_kv_cells_used", "KV cache cells holding a sequence's tokens.", kv[0]),
                                  ("sparkcode_kv_cells_total", "KV cache cells in all (the context size).", kv[1])):
                out += [f"# HELP {name} {help}", f"# TYPE {name} gauge", f"{name} {v}"]
        return "\n".join(out) + "\n"
