"""What every route needs: the backend's name, the scheduler, metrics and the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..backends.base import Backend, ChatRequest
from .errors import ApiError
from .metrics import Metrics
from .responses import ResponseStore
from .scheduler import Job, QueueFull, Scheduler

DEFAULT_MODEL_ALIASES = ("default",)


@dataclass
class ServerContext:
    backend: Backend
    scheduler: Scheduler
    metrics: Metrics
    max_tokens_cap: int
    max_body_bytes: int
    request_timeout_s: float
    session_factory: Callable[..., Any] | None = None
    responses: ResponseStore = field(default_factory=ResponseStore)  # for previous_response_id

    @property
    def model_name(self) -> str:
        return self.backend.name

    def check_model(self, model: str | None) -> None:
        """Accept the backend's name, "default", or no model at all; anything else is a 404."""
        if model is None or model == self.model_name or model in DEFAULT_MODEL_ALIASES:
            return
        raise ApiError(404, f"The model '{model}' does not exist. This server serves '{self.model_name}'.",
                       param="model", code="model_not_found")

    def submit_chat(self, request: ChatRequest) -> Job:
        try:
            return self.scheduler.submit_chat(request, self.request_timeout_s)
        except QueueFull as e:
            raise queue_full_error(e) from e


def queue_full_error(e: QueueFull) -> ApiError:
    return ApiError(429, str(e), code="queue_full", headers={"Retry-After": str(e.retry_after_s)})
