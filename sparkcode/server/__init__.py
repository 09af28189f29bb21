"""OpenAI-compatible HTTP server, WebSocket sessions and a live-preview web page for a `Backend`."""

from .agent_session import agent_session_factory
from .app import create_app
from .run import serve
from .sessions import AgentSession, ChatSession, SessionFactory

__all__ = ["create_app", "serve", "agent_session_factory", "AgentSession", "ChatSession", "SessionFactory"]
