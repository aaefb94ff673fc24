"""Storing the messages sent to a customer, and publishing every stored message.

Every capability that speaks to the customer (the bot's turn, the survey, the
handoff notice, an agent's reply) posts through :class:`Poster`, so each message
is stored first, then published on the event bus: widgets show it live and push
channels (Telegram) deliver it from their outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webhook.domain.delivery import awaits_delivery
from webhook.domain.enums import Channel, Sender
from webhook.domain.messages import BotReply
from webhook.domain.turns import Recorded
from webhook.runtime.events import AGENTS_TOPIC, MESSAGES_TOPIC, EventBus, conversation_topic
from webhook.store import conversations as repo
from webhook.store.database import Database
from webhook.store.schema import Conversation


class Poster:
    """Stores outgoing messages on a conversation and publishes them."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus

    async def post(
        self,
        conversation_id: str,
        channel: Channel | None,
        replies: Iterable[BotReply],
        sender: Sender = Sender.BOT,
        record: Recorded | None = None,
        author: str | None = None,
    ) -> list[repo.StoredMessage]:
        """Store outgoing messages (on ``channel``, else the one the customer used last) and publish them.

        ``record`` (what the turn recorded, :mod:`webhook.domain.turns`) goes with the first message.
        """
        payload = (record.to_json() or None) if record is not None else None
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise LookupError(f"no conversation {conversation_id}")
            target = channel or conversation.last_channel or Channel.WEB
            added = [
                repo.add_message(
                    session,
                    conversation,
                    sender,
                    target,
                    reply.text,
                    reply.buttons,
                    payload if i == 0 else None,
                    author=author,
                    awaits_delivery=awaits_delivery(target, sender),
                )
                for i, reply in enumerate(replies)
            ]
            await session.commit()
            stored = [repo.StoredMessage.of(m) for m in added]
        await self.publish(conversation_id, stored)
        return stored

    async def publish(self, conversation_id: str, messages: list[repo.StoredMessage]) -> None:
        """Tell the conversation's windows and the outboxes about stored messages."""
        for message in messages:
            event = {"type": "message", "message": message.as_json()}
            await self.bus.publish(conversation_topic(conversation_id), event)
            await self.bus.publish(MESSAGES_TOPIC, event)

    async def queue_changed(self, **event: Any) -> None:
        """Tell the agents' consoles that the queue changed (a handoff, a resolution, a customer writing)."""
        await self.bus.publish(AGENTS_TOPIC, {"type": "queue_changed", **event})
