"""What the actions need from their host process: the knowledge base and where links point.

The action executor runs inside the FastAPI app (see docs/architecture.md), which
calls :func:`configure` at start-up. Actions are instantiated by rasa-sdk with no
arguments, so this is how they reach the shared, already-loaded index.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge_base.search import KnowledgeBase


@dataclass
class ActionContext:
    knowledge_base: KnowledgeBase
    link_base: str  # absolute base URL of the help-centre pages, e.g. http://127.0.0.1:8000

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
