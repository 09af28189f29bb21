"""Any OpenAI-compatible server as a Backend: vLLM, SGLang, llama-server, Ollama, Cerebras,
or another sparkcode.

Streams ``/chat/completions`` over SSE with one persistent HTTP connection (httpx keeps it
alive between turns). Retries 429 and 5xx, refused connections and connections that break
before the first token, with exponential backoff (``backoff_s * 2**attempt``) honouring
``Retry-After`` (capped at 30 s) — but only before the first token arrived: a half-streamed
answer is never silently replayed. A connect timeout or a read timeout is not retried (a
black-holed host would otherwise cost minutes). Auth failures, unknown models (with the list
the server does serve), a wrong API base (no ``/v1``) and unreachable hosts become
`RemoteError`s that say what to check.
"""

from __future__ import annotations

import json
import os
import time
from typing import Iterator

import httpx

from ..engine.stats import Done, Stats, TextDelta
from ..errors import SparkcodeError
from .base import ChatRequest


RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_RETRY_WAIT_S = 30.0


class RemoteError(SparkcodeError):
    """The remote server refused or failed the request."""


class OpenAIBackend:
    def __init__(self, api_base: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 3, backoff_s: float = 0.5, connect_timeout: float = 5.0):
        if not api_base.startswith(("http://", "https://")):
            raise SparkcodeError(f"--api-base must be an http(s) URL, got {api_base!r}")
        self.api_base = api_base.rstrip("/")
        self.name = model
        self.retries, self.backoff_s = retries, backoff_s
        key = api_key or os.environ.get("SPARKCODE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=connect_timeout))

    def _payload(self, r: ChatRequest) -> dict:
        p = {"model": self.name, "messages": r.messages, "max_tokens": r.max_tokens, "stream": True,
             "stream_options": {"include_usage": True}, "temperature": r.sampling.temperature,
             "top_p": r.sampling.top_p}
        if r.sampling.seed is not None:
            p["seed"] = r.sampling.seed
        if r.stop:
            p["stop"] = r.stop
        if r.tools:
            p["tools"] = r.tools
        if r.constraint is not None:  # the remote server enforces it (or not) itself
            if r.constraint.response_format is not None:
                p["response_format"] = r.constraint.response_format
            if r.constraint.tool_choice is not None:
                p["tool_choice"] = r.constraint.tool_choice
        return p

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        url = f"{self.api_base}/chat/completions"
        t0 = time.perf_counter()
        progress = {"streamed": False}  # set by _read at the first token: from then on, never retry
        for attempt in range(self.retries + 1):
            last = attempt >= self.retries
            try:
                with self.client.stream("POST", url, json=self._payload(request)) as resp:
                    if resp.status_code in RETRY_STATUS and not last:
                        self._sleep(resp, attempt)
                        continue
                    if resp.status_code != 200:
                        resp.read()
                        raise self._error(resp)
                    yield from self._read(resp, request, t0, progress)
                    return
            except httpx.ConnectTimeout as e:
                raise RemoteError(f"cannot reach {self.api_base}: no answer to the connection within "
                                  f"{self.client.timeout.connect:g} s; is the host right and reachable?") from e
            except httpx.TimeoutException as e:
                raise RemoteError(f"{self.api_base} did not answer in time ({type(e).__name__})") from e
            except httpx.ConnectError as e:  # nothing was sent: safe to try again
                if not last:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                raise RemoteError(f"cannot reach {self.api_base} ({e}); is the server running and the URL right?") from e
            except httpx.HTTPError as e:  # the connection broke (reset, closed early, bad framing)
                if not progress["streamed"] and not last:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                when = "mid-stream" if progress["streamed"] else "before answering"
                raise RemoteError(f"the connection to {self.api_base} broke {when} ({type(e).__name__}: {e})"
                                  + ("; a half-streamed reply is not retried" if progress["streamed"] else "")) from e

    def _sleep(self, resp: httpx.Response, attempt: int) -> None:
        try:
            wait = float(resp.headers.get("retry-after", ""))
        except ValueError:
            wait = self.backoff_s * 2**attempt
        time.sleep(min(max(wait, 0.0), MAX_RETRY_WAIT_S))

    def _error(self, resp: httpx.Response) -> RemoteError:
        err: dict = {}
        try:
            body = resp.json()
            raw = body.get("error") if isinstance(body, dict) else None
            err = raw if isinstance(raw, dict) else {"message": raw} if raw else {}
            msg = err.get("message") or (body.get("detail") if isinstance(body, dict) else None) or resp.text
        except ValueError:
            msg = resp.text
        msg = " ".join(str(msg).split())[:500].rstrip(".")
        if resp.status_code in (401, 403):
            return RemoteError(f"{self.api_base} refused the API key (HTTP {resp.status_code}): {msg}. "
                               "Pass --api-key or set SPARKCODE_API_KEY / OPENAI_API_KEY.")
        if resp.status_code == 404:
            about_model = (err.get("code") == "model_not_found" or err.get("param") == "model"
                           or "model" in msg.lower())
            if not about_model:
                return RemoteError(f"{self.api_base}/chat/completions does not exist (HTTP 404): {msg}. Check the "
                                   "API base: OpenAI-compatible servers usually serve under /v1 "
                                   "(e.g. http://127.0.0.1:8000/v1).")
            known = self._known_models()
            served = f" It serves: {', '.join(known[:20])}." if known else ""
            return RemoteError(f"{self.api_base} has no model {self.name!r} (HTTP 404): {msg}.{served}")
        return RemoteError(f"{self.api_base} answered HTTP {resp.status_code}: {msg}")

    def _known_models(self) -> list[str]:
        """The server's model list for an error message; empty when it cannot be had quickly."""
        try:
            r = self.client.get(f"{self.api_base}/models", timeout=3.0)
            return [str(m["id"]) for m in r.json().get("data", [])] if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            return []

    def _read(self, resp: httpx.Response, request: ChatRequest, t0: float,
              progress: dict) -> Iterator[TextDelta | Done]:
        text: list[str] = []
        stats = Stats(speculate="remote")
        t_first = None
        chunks = 0
        finish = "stop"
        usage = None
        for line in resp.iter_lines():
            if request.should_stop is not None and request.should_stop():
                finish = "cancelled"
                break
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                obj = json.loads(data)
            except json.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            if obj.get("error"):
                err = obj["error"]
                msg = err.get("message", err) if isinstance(err, dict) else err
                raise RemoteError(f"{self.api_base} failed mid-stream: {msg}")
            usage = obj.get("usage") or usage
            extra = obj.get("sparkcode")
            if extra:
                stats.drafted, stats.accepted = extra.get("drafted", 0), extra.get("accepted", 0)
            for ch in obj.get("choices") or []:
                delta = (ch.get("delta") or {}).get("content")
                if delta:
                    if t_first is None:
                        t_first = time.perf_counter()
                        stats.ttft_s = t_first - t0
                        progress["streamed"] = True
                    chunks += 1
                    text.append(delta)
                    yield TextDelta(delta)
                if ch.get("finish_reason"):
                    finish = ch["finish_reason"]
        t_end = time.perf_counter()
        stats.wall_s = t_end - t0
        stats.decode_s = t_end - (t_first or t_end)
        stats.prefill_s = stats.ttft_s
        stats.decode_tokens = (usage or {}).get("completion_tokens") or chunks
        stats.prompt_tokens = (usage or {}).get("prompt_tokens") or 0
        cached = ((usage or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
        stats.cached_tokens = cached or 0
        yield Done("".join(text), finish, stats, [])

    def models(self) -> list[str]:
        r = self.client.get(f"{self.api_base}/models")
        if r.status_code != 200:
            raise self._error(r)
        return [m["id"] for m in r.json().get("data", [])]

    def close(self) -> None:
        self.client.close()
