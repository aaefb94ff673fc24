"""The Telegram channel: updates in (webhook or polling), replies out through the outbox.

``channel`` wires the parts; ``routes`` has the webhook endpoint. The app uses
:class:`TelegramChannel` and :data:`router`.
"""

from webhook.channels.telegram.channel import TelegramChannel
from webhook.channels.telegram.routes import router

__all__ = ["TelegramChannel", "router"]
