"""Backends: anything that streams a chat reply. The agent, `ask`, the server and `race` use
only the `Backend` protocol, so the local engine and a remote OpenAI-compatible server are
interchangeable."""

from .base import Backend, ChatRequest

__all__ = ["Backend", "ChatRequest"]
