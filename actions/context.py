"""What the actions need from their host process: the knowledge base and where links point.

The action executor runs inside the FastAPI app (see docs/architecture.md), which
calls :func:`configure` at start-up. Actions are instantiated by rasa-sdk with no
arguments, so this is how they reach the shared, already-loaded index.
"""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker

from knowledge_base.search import KnowledgeBase

DEFAULT_MAX_TEXT_CHARS = 4000  # the app's MAX_MESSAGE_CHARS default


@dataclass
class ActionContext:
    knowledge_base: KnowledgeBase
    link_base: str  # absolute base URL of the help-centre pages, e.g. http://127.0.0.1:8000
    # The longest customer text an action reads (the app's MAX_MESSAGE_CHARS): what is longer is
    # clipped before it is searched, so that no caller can make the encoder or its cache hold megabytes.
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS

    def article_link(self, key: str, lang: str) -> str:
        return f"{self.link_base.rstrip('/')}/help/{key}?lang={lang}"


_context: ActionContext | None = None


def configure(context: ActionContext | None) -> None:
    global _context
    _context = context


def current() -> ActionContext:
    if _context is None:
        raise RuntimeError("the actions are not configured: the app must call actions.context.configure()")
    return _context


def clipped(text: object) -> str:
    """A customer's text as the actions read it: a string, at most ``max_text_chars`` long."""
    limit = _context.max_text_chars if _context is not None else DEFAULT_MAX_TEXT_CHARS
    return str(text or "")[:limit]


def customer_text(tracker: Tracker) -> str:
    """The customer's latest message, clipped (:func:`clipped`)."""
    return clipped(tracker.latest_message.get("text"))
