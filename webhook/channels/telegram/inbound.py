"""Telegram updates as :class:`InboundMessage`: private messages, edits, attachments, button presses, groups.

Support happens in private chats. A message becomes a turn; an edit is answered
as a new message and recorded as the correction of the earlier one; a file the
bot cannot read is stored for an agent; a pressed inline button is turned back
into the button the stored message offered.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import Any

from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import BadRequest, TelegramError

from knowledge_base.text import LANGUAGES
from webhook.channels.telegram.commands import LANGUAGE_PAYLOAD, Commands
from webhook.channels.telegram.format import ButtonRef, supported_language
from webhook.channels.telegram.turns import TurnSender
from webhook.domain.enums import Channel
from webhook.domain.messages import BotReply, InboundMessage
from webhook.domain.phrases import phrase
from webhook.domain.storable_text import storable, text_problem
from webhook.services.conversations import ConversationService

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
ATTACHMENT_KINDS = ("photo", "document", "voice", "audio", "video", "video_note", "sticker", "animation", "location")
_ATTACHMENT_FIELDS = ("file_id", "file_unique_id", "file_name", "mime_type", "file_size", "duration")


def attachment_of(message: Message) -> dict[str, Any] | None:
    """What a non-text message carried, kept so that an agent can fetch it later."""
    for kind in ATTACHMENT_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        item = value[-1] if isinstance(value, tuple) else value  # photos come in sizes; keep the largest
        found: dict[str, Any] = {"kind": kind}
        for attribute in _ATTACHMENT_FIELDS:
            if getattr(item, attribute, None) is not None:
                found[attribute] = getattr(item, attribute)
        if message.caption:
            found["caption"] = message.caption
        return found
    if message.text is None:
        return {"kind": "other"}
    return None


class UpdateHandler:
    """Processes one stored update: the turn it makes, or the little the bot says itself."""

    def __init__(self, bot: Bot, service: ConversationService, turns: TurnSender, commands: Commands) -> None:
        self.bot = bot
        self.service = service
        self.turns = turns
        self.commands = commands
        self.username: str | None = None  # the bot's, once the channel has started

    async def process(self, payload: dict[str, Any]) -> None:
        update = Update.de_json(payload, self.bot)
        if update.callback_query is not None:
            await self._on_callback(update.callback_query)
            return
        message = update.message or update.edited_message
        if message is None or message.from_user is None:
            return  # other update kinds (membership changes, ...) need nothing
        if message.chat.type != "private":
            await self._on_group_message(message)
            return
        await self._on_private_message(message, edited=update.edited_message is not None)

    async def tell_unavailable(self, payload: dict[str, Any]) -> None:
        """Rasa is down: the message is stored; say so now rather than stay silent."""
        with contextlib.suppress(Exception):
            update = Update.de_json(payload, self.bot)
            chat = update.effective_chat
            user = update.effective_user
            if chat is not None:
                lang = supported_language(user.language_code if user else None)
                await self.bot.send_message(chat.id, phrase("bot_unavailable", lang))

    async def _on_group_message(self, message: Message) -> None:
        """Support happens in private: answer a mention with a link to a private chat, ignore the rest."""
        mention = f"@{self.username}".lower() if self.username else None
        text = (message.text or message.caption or "").lower()
        replied_to_us = bool(
            message.reply_to_message
            and message.reply_to_message.from_user
            and message.reply_to_message.from_user.id == self.bot.id
        )
        if not ((mention and mention in text) or replied_to_us):
            return
        user = message.from_user
        lang = supported_language(user.language_code if user else None)
        url = f"https://t.me/{self.username}"
        await self.bot.send_message(
            message.chat.id, phrase("group_private_only", lang, url=url), reply_to_message_id=message.message_id
        )

    async def _on_private_message(self, message: Message, edited: bool) -> None:
        user = message.from_user
        assert user is not None
        base = InboundMessage(
            Channel.TELEGRAM,
            str(user.id),
            "",
            language=supported_language(user.language_code),
            display_name=storable(user.full_name),
            external_message_id=str(message.message_id),
        )
        text = message.text or ""
        attachment = attachment_of(message)
        if edited:
            # A correction: answered as a new message, and recorded as the edit of the earlier one.
            edit = int(message.edit_date.timestamp()) if message.edit_date else 0
            inbound = replace(
                base,
                text=text or message.caption or "",
                client_message_id=f"tg:{message.message_id}:edit:{edit}",
                extra={"edited": message.message_id},
                attachment=attachment,
            )
            await self.turns.send(message.chat.id, inbound)
        elif attachment is not None:
            inbound = replace(
                base, text=message.caption or "", client_message_id=f"tg:{message.message_id}", attachment=attachment
            )
            await self.turns.send(message.chat.id, inbound, typing=False)
        elif text.startswith("/") and text_problem(text) is None:
            await self.commands.handle(message, text, base)
        else:  # a text that cannot be stored (a NUL, a lone surrogate) is refused there, with the reason
            inbound = replace(base, text=text, client_message_id=f"tg:{message.message_id}")
            await self.turns.send(message.chat.id, inbound)

    async def _on_callback(self, query: CallbackQuery) -> None:
        """A pressed inline button: stop its spinner, remove the keyboard, and send the button as a turn."""
        with contextlib.suppress(TelegramError):  # stop the button's spinner whatever happens next
            await query.answer()
        if isinstance(query.message, Message):
            with contextlib.suppress(BadRequest):  # a keyboard can only be pressed once
                await self.bot.edit_message_reply_markup(query.message.chat.id, query.message.message_id)
        user = query.from_user
        external_id = str(user.id)
        button = await self._button(external_id, query.data or "")
        if button is None:
            log.warning("telegram: unknown button %r from %s", query.data, external_id)
            return
        payload = button.get("payload", "")
        chat_id = query.message.chat.id if query.message else user.id
        if payload.startswith(LANGUAGE_PAYLOAD) and payload[len(LANGUAGE_PAYLOAD) :] in LANGUAGES:
            await self._choose_language(chat_id, query, button["title"], payload[len(LANGUAGE_PAYLOAD) :])
            return
        inbound = InboundMessage(
            Channel.TELEGRAM,
            external_id,
            button["title"],
            payload=payload,
            client_message_id=f"tgcb:{query.id}",
            language=supported_language(user.language_code),
            display_name=storable(user.full_name),
        )
        await self.turns.send(chat_id, inbound)

    async def _choose_language(self, chat_id: int, query: CallbackQuery, title: str, lang: str) -> None:
        """A language button: remember the choice and confirm it in that language (Rasa is not asked)."""
        external_id = str(query.from_user.id)
        await self.service.set_language(Channel.TELEGRAM, external_id, lang)
        inbound = InboundMessage(
            Channel.TELEGRAM, external_id, title, client_message_id=f"tgcb:{query.id}", language=lang
        )

        async def confirm(_detected: str) -> list[BotReply]:
            return [BotReply(phrase("language_set", lang))]

        await self.turns.send(chat_id, inbound, answer=confirm, typing=False)

    async def _button(self, external_id: str, data: str) -> dict[str, str] | None:
        ref = ButtonRef.read(data)
        if ref is None:
            return None
        return await self.service.button(Channel.TELEGRAM, external_id, ref.message_id, ref.index)
