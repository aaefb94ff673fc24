"""One customer turn from Telegram: show "typing…", hand the message to the conversation service."""

from __future__ import annotations

import contextlib

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from webhook.domain.errors import MessageRejected
from webhook.domain.messages import InboundMessage, LocalAnswer
from webhook.domain.phrases import phrase
from webhook.services.conversations import ConversationService


class TurnSender:
    """Runs a turn for a chat; the replies go out later through the outbox, a refusal at once."""

    def __init__(self, bot: Bot, service: ConversationService) -> None:
        self.bot = bot
        self.service = service

    async def send(
        self, chat_id: int, inbound: InboundMessage, answer: LocalAnswer | None = None, typing: bool = True
    ) -> None:
        """Handle ``inbound`` (answered by Rasa, or by ``answer`` for a command the channel answers itself)."""
        if typing:
            with contextlib.suppress(TelegramError):
                await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        try:
            await self.service.handle(inbound, answer=answer)
        except MessageRejected as exc:  # nothing was stored: say why, straight away
            await self.bot.send_message(chat_id, phrase("message_rejected", inbound.language, detail=exc))
