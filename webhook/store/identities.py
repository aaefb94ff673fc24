"""Joining channel identities into one customer: one-time link codes and merges.

A customer who starts on the website and goes on in Telegram (or the reverse)
redeems a link code made by the other channel; a host site's verified user id
joins every browser session of that user. Either way the identities end up on
one customer, and that customer's open conversations become one: its messages
moved, in order, into the conversation that is kept.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel, ConversationStatus
from webhook.domain.errors import LinkError
from webhook.store.schema import ChannelIdentity, Conversation, Customer, HandoffRequest, LinkCode, Message

# A merged conversation keeps the status that involves a person most.
_STATUS_RANK = {
    ConversationStatus.RESOLVED: 0,
    ConversationStatus.BOT: 1,
    ConversationStatus.WAITING_FOR_AGENT: 2,
    ConversationStatus.WITH_AGENT: 3,
}


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


async def issue_link_code(
    session: AsyncSession, customer: Customer, conversation: Conversation | None, target: Channel, ttl_s: int
) -> IssuedCode:
    """A one-time code (URL- and Telegram-``start``-safe) for ``target`` to join this customer."""
    code = secrets.token_urlsafe(12)  # 16 characters of [A-Za-z0-9_-], 96 bits
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    session.add(
        LinkCode(
            code_hash=_hash(code),
            customer_id=customer.id,
            conversation_id=conversation.id if conversation else None,
            target=target,
            expires_at=expires,
        )
    )
    await session.flush()
    return IssuedCode(code, expires)


async def redeem_link_code(session: AsyncSession, code: str, channel: Channel, external_id: str) -> LinkCode:
    """Use a code once (atomically, so two redemptions can't both win) or raise :class:`LinkError`."""
    link = await session.get(LinkCode, _hash(code))
    if link is None or link.target != channel:
        raise LinkError("unknown link code")
    if link.used_at is not None:
        raise LinkError("this link code was already used")
    if _aware(link.expires_at) < datetime.now(UTC):
        raise LinkError("this link code has expired")
    claimed = await session.execute(
        update(LinkCode)
        .where(LinkCode.code_hash == link.code_hash, LinkCode.used_at.is_(None))
        .values(used_at=datetime.now(UTC), used_by=external_id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkError("this link code was already used")
    return link


async def attach_identity(
    session: AsyncSession, target: Customer, channel: Channel, external_id: str, keep: Conversation | None
) -> Conversation | None:
    """Put the identity on ``target``; a different customer it belonged to is merged in.

    Returns the conversation that is now the customer's open one (``keep`` if given).
    """
    identity = await session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    if identity is None:
        session.add(ChannelIdentity(customer_id=target.id, channel=channel, external_id=external_id))
        await session.flush()
        return keep
    if identity.customer_id == target.id:
        return keep
    source = await session.get(Customer, identity.customer_id)
    assert source is not None
    return await merge_customers(session, source, target, keep)


async def _open_conversations(session: AsyncSession, customer_id: str) -> list[Conversation]:
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, Conversation.status != ConversationStatus.RESOLVED)
        .order_by(Conversation.created_at.desc())
    )
    return list(rows)


async def merge_customers(
    session: AsyncSession, source: Customer, target: Customer, keep: Conversation | None
) -> Conversation | None:
    """Move everything of ``source`` to ``target`` and delete ``source``.

    Open conversations of both become one (``keep``, else the target's newest
    open one, else the source's): their messages and handoff requests move into
    it, so the transcript stays whole and in order. Resolved conversations simply
    change owner and stay in the customer's history.
    """
    open_conversations = await _open_conversations(session, target.id) + await _open_conversations(session, source.id)
    kept = keep or (open_conversations[0] if open_conversations else None)
    for conversation in open_conversations:
        if kept is None or conversation.id == kept.id:
            continue
        await session.execute(
            update(Message).where(Message.conversation_id == conversation.id).values(conversation_id=kept.id)
        )
        await session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.conversation_id == conversation.id)
            .values(conversation_id=kept.id)
        )
        if _STATUS_RANK[conversation.status] > _STATUS_RANK[kept.status]:
            kept.status = conversation.status
        session.expunge(conversation)
        await session.execute(delete(Conversation).where(Conversation.id == conversation.id))
    await session.flush()
    if kept is not None and kept.customer_id != target.id:
        kept.customer_id = target.id
    await session.execute(
        update(Conversation).where(Conversation.customer_id == source.id).values(customer_id=target.id)
    )
    await session.execute(
        update(ChannelIdentity).where(ChannelIdentity.customer_id == source.id).values(customer_id=target.id)
    )
    await session.execute(update(LinkCode).where(LinkCode.customer_id == source.id).values(customer_id=target.id))
    target.display_name = target.display_name or source.display_name
    target.language = target.language or source.language
    await session.flush()
    session.expunge(source)
    await session.execute(delete(Customer).where(Customer.id == source.id))
    await session.flush()
    return kept
