"""Delivery bookkeeping for push channels, and the log of incoming Telegram updates.

A reply for Telegram is a stored message first; a deliverer claims it, sends it
and marks it delivered. A claim that is never completed (the worker died
mid-send) goes stale and is claimed again, so a crash delays a reply but never
loses it. Incoming updates are stored under their ``update_id`` before they are
acknowledged, which both de-duplicates Telegram's retries and lets an update
that was stored but not processed be processed after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel, Sender
from webhook.store.schema import ChannelIdentity, Conversation, Message, TelegramUpdate

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Delivery:
    """One claimed message and where it goes."""

    message_id: int
    conversation_id: str
    address: str | None  # the channel's address of the customer (a Telegram chat id); None: nowhere to send
    text: str
    buttons: list[dict[str, str]]
    author: str | None
    sender: str
    language: str | None


async def claim_deliveries(
    session: AsyncSession, channel: Channel, limit: int = 50, stale_after_s: float = 60.0
) -> list[Delivery]:
    """Claim undelivered outgoing messages of ``channel``, oldest first."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=stale_after_s)
    candidates = await session.scalars(
        select(Message.id)
        .where(
            Message.channel == channel,
            Message.sender != Sender.CUSTOMER,
            Message.delivered_at.is_(None),
            Message.delivery_attempts < MAX_ATTEMPTS,
            or_(Message.delivery_claimed_at.is_(None), Message.delivery_claimed_at < stale),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    claimed: list[Delivery] = []
    for message_id in list(candidates):
        result = await session.execute(
            update(Message)
            .where(
                Message.id == message_id,
                Message.delivered_at.is_(None),
                or_(Message.delivery_claimed_at.is_(None), Message.delivery_claimed_at < stale),
            )
            .values(delivery_claimed_at=now, delivery_attempts=Message.delivery_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker took it
        message = await session.get(Message, message_id, populate_existing=True)
        assert message is not None
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        claimed.append(
            Delivery(
                message_id=message.id,
                conversation_id=message.conversation_id,
                address=await channel_address(session, conversation.customer_id, channel),
                text=message.text,
                buttons=list(message.buttons or []),
                author=message.author,
                sender=str(message.sender),
                language=conversation.language,
            )
        )
    await session.commit()
    return claimed


async def channel_address(session: AsyncSession, customer_id: str, channel: Channel) -> str | None:
    """The customer's most recently seen identity on ``channel``."""
    return await session.scalar(
        select(ChannelIdentity.external_id)
        .where(ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == channel)
        .order_by(ChannelIdentity.last_seen_at.desc())
        .limit(1)
    )


async def mark_delivered(session: AsyncSession, message_id: int, external_id: str | None) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(delivered_at=datetime.now(UTC), delivery_claimed_at=None, external_id=external_id)
        .execution_options(synchronize_session=False)
    )


async def release(
    session: AsyncSession, message_id: int, retry_after_s: float = 0.0, stale_after_s: float = 60.0
) -> None:
    """Give a claim back after a failed send; it can be claimed again after ``retry_after_s``."""
    # Backdating the claim makes it go stale exactly ``retry_after_s`` from now.
    backdated = datetime.now(UTC) - timedelta(seconds=max(0.0, stale_after_s - retry_after_s))
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(delivery_claimed_at=None if retry_after_s <= 0 else backdated)
        .execution_options(synchronize_session=False)
    )


async def give_up(session: AsyncSession, message_id: int) -> None:
    """The channel refused the message for good (the customer blocked the bot): stop retrying."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(delivery_attempts=MAX_ATTEMPTS, delivery_claimed_at=None)
        .execution_options(synchronize_session=False)
    )


# -- incoming Telegram updates ----------------------------------------------------------
async def store_update(session: AsyncSession, update_id: int, payload: dict[str, Any]) -> bool:
    """Keep an update; False when this ``update_id`` was stored before (a retry or a duplicate)."""
    session.add(TelegramUpdate(update_id=update_id, payload=payload))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def finish_update(session: AsyncSession, update_id: int, error: str | None = None) -> None:
    await session.execute(
        update(TelegramUpdate)
        .where(TelegramUpdate.update_id == update_id)
        .values(processed_at=datetime.now(UTC), error=error)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def pending_updates(session: AsyncSession, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
    """Updates stored but not processed (the process stopped in between), oldest first."""
    rows = await session.execute(
        select(TelegramUpdate.update_id, TelegramUpdate.payload)
        .where(TelegramUpdate.processed_at.is_(None))
        .order_by(TelegramUpdate.update_id)
        .limit(limit)
    )
    return [(int(update_id), dict(payload)) for update_id, payload in rows]


async def last_update_id(session: AsyncSession) -> int | None:
    """The newest update stored: polling resumes after it."""
    return await session.scalar(select(TelegramUpdate.update_id).order_by(TelegramUpdate.update_id.desc()).limit(1))
