"""Any OpenAI-compatible server as a Backend: vLLM, SGLang, llama-server, Ollama, Cerebras,
or another sparkcode.

Streams ``/chat/completions`` over SSE with one persistent HTTP connection (httpx keeps it
alive between turns). Retries 429 and 5xx (and connection failures) with exponential backoff,
honouring ``Retry-After``, but only before the first token arrived — a half-streamed answer is
never silently replayed. Auth failures, unknown models and unreachable hosts become
`SparkcodeError`s that say what to check.
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
        return p

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        url = f"{self.api_base}/chat/completions"
        t0 = time.perf_counter()
        for attempt in range(self.retries + 1):
            try:
                with self.client.stream("POST", url, json=self._payload(request)) as resp:
                    if resp.status_code in (429, 500, 502, 503, 504) and attempt < self.retries:
                        self._sleep(resp, attempt)
                        continue
                    if resp.status_code != 200:
                        resp.read()
                        raise self._error(resp)
                    yield from self._read(resp, request, t0)
                    return
            except httpx.ConnectError as e:
                if attempt < self.retries:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                raise RemoteError(f"cannot reach {self.api_base} ({e}); is the server running and the URL right?") from e
            except httpx.TimeoutException as e:
                raise RemoteError(f"{self.api_base} did not answer in time ({type(e).__name__})") from e

    def _sleep(self, resp: httpx.Response, attempt: int) -> None:
        try:
            wait = float(resp.headers.get("retry-after", ""))
        except ValueError:
            wait = self.backoff_s * 2**attempt
        time.sleep(min(wait, 30.0))

    def _error(self, resp: httpx.Response) -> RemoteError:
        try:
            msg = resp.json().get("error", {}).get("message") or resp.text
        except (ValueError, AttributeError):
            msg = resp.text
        msg = str(msg)[:500]
        if resp.status_code in (401, 403):
            return RemoteError(f"{self.api_base} refused the API key (HTTP {resp.status_code}): {msg}. "
                               "Pass --api-key or set SPARKCODE_API_KEY / OPENAI_API_KEY.")
        if resp.status_code == 404:
            return RemoteError(f"{self.api_base} has no model {self.name!r} (HTTP 404): {msg}")
        return RemoteError(f"{self.api_base} answered HTTP {resp.status_code}: {msg}")

    def _read(self, resp: httpx.Response, request: ChatRequest, t0: float) -> Iterator[TextDelta | Done]:
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
            if "error" in obj:
                raise RemoteError(f"{self.api_base} failed mid-stream: {obj['error'].get('message', obj['error'])}")
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
