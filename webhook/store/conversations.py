"""Customers, their channel identities, conversations and messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.store.schema import ChannelIdentity, Conversation, Customer, HandoffRequest, Message


@dataclass(frozen=True)
class StoredMessage:
    """A message as the channels and the agent console see it."""

    id: int
    conversation_id: str
    sender: str
    channel: str
    text: str
    buttons: list[dict[str, str]]
    created_at: datetime
    client_message_id: str | None = None
    author: str | None = None
    payload: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """What a customer's window may see (the payload is for agents and analytics only)."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "sender": self.sender,
            "channel": self.channel,
            "text": self.text,
            "buttons": self.buttons,
            "created_at": self.created_at.isoformat(),
            "client_message_id": self.client_message_id,
            "author": self.author,
        }

    @classmethod
    def of(cls, message: Message) -> StoredMessage:
        created = message.created_at
        if created.tzinfo is None:  # SQLite hands back naive datetimes
            created = created.replace(tzinfo=UTC)
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            sender=str(message.sender),
            channel=str(message.channel),
            text=message.text,
            buttons=list(message.buttons or []),
            created_at=created,
            client_message_id=message.client_message_id,
            author=message.author,
            payload=message.payload,
        )


async def find_customer(session: AsyncSession, channel: Channel, external_id: str) -> Customer | None:
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    return None if identity is None else await session.get(Customer, identity.customer_id)


async def current_conversation(session: AsyncSession, customer_id: str) -> Conversation | None:
    """The customer's newest conversation that is not resolved."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, Conversation.status != ConversationStatus.RESOLVED)
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )


async def latest_conversation(session: AsyncSession, customer_id: str, within_h: float) -> Conversation | None:
    """The customer's newest conversation if it was active within ``within_h`` hours."""
    return await session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.updated_at >= datetime.now(UTC) - timedelta(hours=within_h),
        )
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )


async def find_or_create_customer(session: AsyncSession, channel: Channel, external_id: str) -> Customer:
    """The customer behind a channel identity, created on first contact."""
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    if identity is not None:
        identity.last_seen_at = datetime.now(UTC)
        customer = await session.get(Customer, identity.customer_id)
        assert customer is not None  # FK with cascade
        return customer
    customer = Customer()
    session.add(customer)
    session.add(ChannelIdentity(customer=customer, channel=channel, external_id=external_id))
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another request created this identity at the same moment: use theirs.
        session.expunge(customer)
        return await find_or_create_customer(session, channel, external_id)
    return customer


async def open_conversation(session: AsyncSession, customer: Customer, channel: Channel) -> Conversation:
    """The customer's current conversation, or a new one when all are resolved."""
    conversation = await current_conversation(session, customer.id)
    if conversation is None:
        conversation = Conversation(
            customer_id=customer.id, status=ConversationStatus.BOT, language=customer.language, channel=channel
        )
        session.add(conversation)
    conversation.last_channel = channel
    await session.flush()
    return conversation


async def find_by_client_id(session: AsyncSession, conversation_id: str, client_message_id: str) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.client_message_id == client_message_id
        )
    )


def add_message(
    session: AsyncSession,
    conversation: Conversation,
    sender: Sender,
    channel: Channel,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    payload: dict[str, Any] | None = None,
    client_message_id: str | None = None,
    author: str | None = None,
    external_id: str | None = None,
    awaits_delivery: bool = False,
) -> Message:
    """Add a message; one that ``awaits_delivery`` (``webhook/domain/delivery.py``) is stored undelivered."""
    message = Message(
        conversation_id=conversation.id,
        sender=sender,
        channel=channel,
        text=text,
        buttons=buttons or None,
        payload=payload,
        client_message_id=client_message_id,
        author=author,
        external_id=external_id,
        delivered_at=None if awaits_delivery else datetime.now(UTC),
    )
    session.add(message)
    conversation.updated_at = datetime.now(UTC)
    return message


async def unanswered_messages(
    session: AsyncSession, since: datetime, before: datetime | None = None
) -> list[StoredMessage]:
    """Customer messages since ``since`` (and before ``before``) that are the last word of a bot-handled conversation.

    After a crash between storing a message and storing the bot's reply, these are
    the messages still owed an answer. ``before`` leaves out what this process
    stored itself: a turn in flight is answering those.
    """
    recent = (
        select(Message.conversation_id, func.max(Message.id).label("last_id"))
        .where(Message.created_at >= since)
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.scalars(
        select(Message)
        .join(recent, Message.id == recent.c.last_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.sender == Sender.CUSTOMER, Conversation.status == ConversationStatus.BOT)
        .where(Message.created_at < before if before is not None else true())
        .order_by(Message.id)
    )
    return [StoredMessage.of(m) for m in rows]


async def messages_after(session: AsyncSession, conversation_id: str, after_id: int = 0) -> list[StoredMessage]:
    """The conversation's messages in order (all channels), after ``after_id``."""
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.id > after_id).order_by(Message.id)
    )
    return [StoredMessage.of(m) for m in rows]


async def record_handoff(
    session: AsyncSession, conversation: Conversation, reason: str, detail: dict[str, Any] | None = None
) -> HandoffRequest:
    """Mark the conversation as waiting for an agent and keep why."""
    request = HandoffRequest(conversation_id=conversation.id, reason=reason, detail=detail)
    session.add(request)
    if conversation.status == ConversationStatus.BOT:
        conversation.status = ConversationStatus.WAITING_FOR_AGENT
    return request


async def handoff_requests(session: AsyncSession, conversation_id: str) -> list[HandoffRequest]:
    rows = await session.scalars(
        select(HandoffRequest).where(HandoffRequest.conversation_id == conversation_id).order_by(HandoffRequest.id)
    )
    return list(rows)
