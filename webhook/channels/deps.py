"""What the channels' routes need from the running app, as FastAPI dependencies.

The app puts its parts on ``app.state`` at start-up; these read them for one
request or WebSocket (``HTTPConnection`` is the common base of both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.requests import HTTPConnection
from fastapi.templating import Jinja2Templates

from webhook.runtime.abuse_limits import AbuseLimits
from webhook.services.conversations import ConversationService
from webhook.settings import Settings

if TYPE_CHECKING:  # at run time the Telegram package imports this module, not the reverse
    from webhook.channels.telegram.channel import TelegramChannel


def conversation_service(connection: HTTPConnection) -> ConversationService:
    service: ConversationService = connection.app.state.conversations
    return service


def abuse_limits(connection: HTTPConnection) -> AbuseLimits:
    """The app's abuse limits (webhook.runtime.abuse_limits), put on the app by ``create_app``."""
    limits: AbuseLimits = connection.app.state.abuse_limits
    return limits


def client_ip(connection: HTTPConnection) -> str:
    """The client's address: the peer, or what a trusted proxy says in ``X-Forwarded-For``."""
    peer = connection.client.host if connection.client else None
    return abuse_limits(connection).client_ip(peer, connection.headers.getlist("x-forwarded-for"))


def templates(connection: HTTPConnection) -> Jinja2Templates:
    found: Jinja2Templates = connection.app.state.templates
    return found


def settings(connection: HTTPConnection) -> Settings:
    found: Settings = connection.app.state.settings
    return found


def telegram_channel(connection: HTTPConnection) -> TelegramChannel | None:
    """The running Telegram channel; None when no bot token is configured."""
    channel: TelegramChannel | None = getattr(connection.app.state, "telegram", None)
    return channel


def telegram_username(connection: HTTPConnection) -> str | None:
    """The bot's username, for t.me links; None without a started Telegram channel."""
    channel = telegram_channel(connection)
    return channel.username if channel is not None else None
