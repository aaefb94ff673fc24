"""The one place a customer message goes through, whichever channel it came from.

A channel hands over an :class:`InboundMessage`; the service stores it (before
anything else happens), finds the customer's conversation, asks Rasa for the
bot's turn with the conversation id as Rasa's sender id, applies what the
custom actions reported (a handoff request, the articles shown) and stores the
replies. Channels only translate to and from their wire format.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from knowledge_base.text import detect_language
from webhook.rasa_client import RasaClient, RasaUnavailable
from webhook.store import conversations as repo
from webhook.store.database import Database
from webhook.store.schema import Channel, ConversationStatus, Sender

log = logging.getLogger(__name__)


class MessageRejected(ValueError):
    """The message cannot be accepted as it is (empty, too long); nothing was stored."""


class BotUnavailable(RuntimeError):
    """The message is stored, but the bot could not answer it now."""

    def __init__(self, conversation_id: str, message_id: int) -> None:
        super().__init__(f"the bot is unavailable; message {message_id} is stored")
        self.conversation_id = conversation_id
        self.message_id = message_id


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalised by its channel."""

    channel: Channel
    external_id: str  # the customer on that channel: web session token, Telegram user id
    text: str  # what the customer wrote, or the label of the button they pressed
    payload: str | None = None  # a button's payload for Rasa (e.g. "/affirm"); defaults to text
    client_message_id: str | None = None  # for idempotent resends
    language: str | None = None  # the channel's UI language, a hint when the text has no letters


@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


# Said when Rasa answers a turn with nothing (an action failed): never leave a customer in silence.
NO_REPLY = {
    "en": "Sorry, something went wrong on our side. Please ask again, or ask for a person.",
    "fa": "متأسفیم، مشکلی در سمت ما پیش آمد. لطفاً دوباره بپرسید یا درخواست گفتگو با پشتیبان بدهید.",
    "ar": "عذرًا، حدث خطأ من جهتنا. يرجى السؤال مرة أخرى، أو طلب التحدث إلى موظف.",
}


@dataclass(frozen=True)
class Outcome:
    conversation_id: str
    message_id: int
    language: str
    replies: list[BotReply]
    duplicate: bool = False


class ConversationService:
    def __init__(self, db: Database, rasa: RasaClient, max_chars: int = 4000, default_language: str = "en") -> None:
        self.db = db
        self.rasa = rasa
        self.max_chars = max_chars
        self.default_language = default_language
        # One turn at a time per customer in this worker, so replies keep their order.
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    def validate(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise MessageRejected("the message is empty")
        if len(text) > self.max_chars:
            raise MessageRejected(f"the message is longer than {self.max_chars} characters")
        if "\x00" in text:
            raise MessageRejected("the message contains a NUL character")
        return text

    async def handle(self, inbound: InboundMessage) -> Outcome:
        text = self.validate(inbound.text)
        async with self._locks[(inbound.channel.value, inbound.external_id)]:
            return await self._turn(inbound, text)

    async def _turn(self, inbound: InboundMessage, text: str) -> Outcome:
        # 1. Store the customer's message first: whatever fails later, it is kept.
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, inbound.channel, inbound.external_id)
            conversation = await repo.open_conversation(session, customer, inbound.channel)
            if inbound.client_message_id:
                earlier = await repo.find_by_client_id(session, conversation.id, inbound.client_message_id)
                if earlier is not None:
                    replies = await self._replies_after(session, conversation.id, earlier.id)
                    lang = conversation.language or self.default_language
                    return Outcome(conversation.id, earlier.id, lang, replies, duplicate=True)
            hint = conversation.language or inbound.language or self.default_language
            lang = detect_language(text, default=hint) or self.default_language
            conversation.language = customer.language = lang
            message = repo.add_message(
                session,
                conversation,
                Sender.CUSTOMER,
                inbound.channel,
                text,
                client_message_id=inbound.client_message_id,
            )
            await session.commit()
            conversation_id, message_id, status = conversation.id, message.id, conversation.status

        # 2. While an agent owns the conversation the bot stays silent.
        if status == ConversationStatus.WITH_AGENT:
            return Outcome(conversation_id, message_id, lang, [])

        # 3. The bot's turn. Rasa's sender id is the conversation, never the channel user.
        try:
            raw = await self.rasa.send(
                conversation_id,
                inbound.payload or text,
                {"lang": lang, "channel": inbound.channel.value, "message_id": message_id},
            )
        except RasaUnavailable as exc:
            log.error("conversation %s: %s", conversation_id, exc)
            raise BotUnavailable(conversation_id, message_id) from exc

        # 4. Store the replies and apply what the actions reported. The first reply of the
        #    turn carries the actions' records (search decision and scores, feedback, handoff).
        replies, effects = _parse_rasa_output(raw)
        if not replies:
            log.error("conversation %s: Rasa produced no reply to message %s", conversation_id, message_id)
            replies = [BotReply(NO_REPLY.get(lang, NO_REPLY["en"]), [])]
            effects["error"] = "no_reply"
        async with self.db.session() as session:
            current = await session.get(repo.Conversation, conversation_id)
            assert current is not None
            for i, reply in enumerate(replies):
                payload = (effects or None) if i == 0 else None
                repo.add_message(session, current, Sender.BOT, inbound.channel, reply.text, reply.buttons, payload)
            if "handoff" in effects:
                handoff = effects["handoff"]
                await repo.record_handoff(session, current, str(handoff.get("reason", "unknown")), handoff)
            await session.commit()
        return Outcome(conversation_id, message_id, lang, replies)

    async def _replies_after(self, session: Any, conversation_id: str, message_id: int) -> list[BotReply]:
        """The bot messages that answered ``message_id`` (for an idempotent resend)."""
        replies = []
        for m in await repo.messages_after(session, conversation_id, message_id):
            if m.sender == Sender.CUSTOMER:
                break
            if m.sender == Sender.BOT:
                replies.append(BotReply(m.text, m.buttons))
        return replies

    async def transcript(self, channel: Channel, external_id: str) -> tuple[str | None, list[repo.StoredMessage]]:
        """The open conversation of a channel identity, for restoring a chat window."""
        async with self.db.session() as session:
            customer = await repo.find_customer(session, channel, external_id)
            if customer is None:
                return None, []
            conversation = await repo.current_conversation(session, customer.id)
            if conversation is None:
                return None, []
            return conversation.id, await repo.messages_after(session, conversation.id)


def _parse_rasa_output(raw: list[dict[str, Any]]) -> tuple[list[BotReply], dict[str, Any]]:
    """Split Rasa's REST output into visible replies and the actions' side-channel data."""
    replies: list[BotReply] = []
    effects: dict[str, Any] = {}
    for item in raw:
        custom = item.get("custom")
        if isinstance(custom, dict):
            effects.update(custom)
        text = item.get("text")
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
        ]
        if text or buttons:
            replies.append(BotReply(str(text or ""), buttons))
    return replies, effects
