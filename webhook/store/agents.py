"""The agents' side of the store: the queue, ownership, notes, events and presence.

Taking a conversation is one conditional UPDATE, so two agents can never both own it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import ConversationStatus, Sender
from webhook.domain.errors import NotAllowed
from webhook.store.customer_data import ANONYMOUS_CUSTOMER_ID
from webhook.store.schema import (
    AgentNote,
    AgentPresence,
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    CsatResponse,
    Customer,
    HandoffRequest,
    Message,
    User,
)

OPEN_FOR_AGENTS = (ConversationStatus.WAITING_FOR_AGENT, ConversationStatus.WITH_AGENT)


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# -- handoff and the queue ------------------------------------------------------------
async def enqueue(
    session: AsyncSession, conversation: Conversation, reason: str, detail: dict[str, Any] | None, ticket: bool
) -> HandoffRequest:
    """Record the request; a conversation with the bot joins the end of the queue."""
    request = HandoffRequest(conversation_id=conversation.id, reason=reason, detail=detail)
    session.add(request)
    if conversation.status == ConversationStatus.BOT:
        conversation.status = ConversationStatus.WAITING_FOR_AGENT
        conversation.queued_at = now()
        conversation.ticket = ticket
        conversation.agent_id = None
    add_event(session, conversation.id, "handoff", "bot", {"reason": reason, **(detail or {})})
    await session.flush()
    return request


async def queue_position(session: AsyncSession, conversation: Conversation) -> int:
    """1 for the next conversation an agent will take."""
    if conversation.queued_at is None:
        return 0
    ahead = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.status == ConversationStatus.WAITING_FOR_AGENT,
            Conversation.queued_at < conversation.queued_at,
        )
    )
    return int(ahead or 0) + 1


async def queue(session: AsyncSession) -> list[Conversation]:
    """Conversations agents care about: waiting (oldest first), then owned."""
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.status.in_(OPEN_FOR_AGENTS))
        .order_by(Conversation.status.desc(), Conversation.queued_at)
    )
    return list(rows)


async def claim(session: AsyncSession, conversation_id: str, agent: User) -> bool:
    """Take a waiting conversation; False when someone else was first (or it is not waiting)."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.status == ConversationStatus.WAITING_FOR_AGENT)
        .values(status=ConversationStatus.WITH_AGENT, agent_id=agent.id, claimed_at=now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    add_event(session, conversation_id, "claimed", agent.username)
    return True


async def owned(session: AsyncSession, conversation_id: str, agent: User) -> Conversation:
    """The conversation, if this agent owns it (admins may act on any owned conversation)."""
    conversation = await session.get(Conversation, conversation_id, populate_existing=True)
    if conversation is None:
        raise LookupError(conversation_id)
    if conversation.status != ConversationStatus.WITH_AGENT:
        raise NotAllowed("the conversation is not with an agent: claim it first")
    if conversation.agent_id != agent.id and agent.role != "admin":
        raise NotAllowed("another agent owns this conversation")
    return conversation


def add_event(
    session: AsyncSession, conversation_id: str, kind: str, actor: str | None, detail: dict[str, Any] | None = None
) -> None:
    session.add(ConversationEvent(conversation_id=conversation_id, kind=kind, actor=actor, detail=detail))


def add_note(session: AsyncSession, conversation_id: str, agent: User, text: str) -> AgentNote:
    note = AgentNote(conversation_id=conversation_id, author_id=agent.id, author=agent.display_name, text=text)
    session.add(note)
    return note


async def notes(session: AsyncSession, conversation_id: str) -> list[AgentNote]:
    rows = await session.scalars(
        select(AgentNote).where(AgentNote.conversation_id == conversation_id).order_by(AgentNote.id)
    )
    return list(rows)


# -- presence ------------------------------------------------------------------------
async def set_presence(session: AsyncSession, agent: User, available: bool | None = None) -> AgentPresence:
    presence = await session.get(AgentPresence, agent.id)
    if presence is None:
        presence = AgentPresence(user_id=agent.id, available=True if available is None else available)
        session.add(presence)
    elif available is not None:
        presence.available = available
    presence.last_seen_at = now()
    await session.flush()
    return presence


async def agents_online(session: AsyncSession, window_s: float) -> int:
    """Agents who are available and whose console was seen within ``window_s``."""
    count = await session.scalar(
        select(func.count())
        .select_from(AgentPresence)
        .join(User, User.id == AgentPresence.user_id)
        .where(
            AgentPresence.available.is_(True),
            AgentPresence.last_seen_at >= now() - timedelta(seconds=window_s),
            User.is_active.is_(True),
            User.role.in_(("agent", "admin")),
        )
    )
    return int(count or 0)


# -- what an agent reads -----------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    customer: Customer
    channels: list[ChannelIdentity]
    earlier: list[tuple[Conversation, int | None]]  # other conversations and their CSAT rating


async def profile(session: AsyncSession, conversation: Conversation) -> Profile:
    customer = await session.get(Customer, conversation.customer_id)
    assert customer is not None
    identities = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer.id)
        .order_by(ChannelIdentity.last_seen_at.desc())
    )
    if customer.id == ANONYMOUS_CUSTOMER_ID:  # an erased customer's conversation: the others are nobody's
        return Profile(customer, list(identities), [])
    earlier = await session.execute(
        select(Conversation, CsatResponse.rating)
        .outerjoin(CsatResponse, CsatResponse.conversation_id == Conversation.id)
        .where(Conversation.customer_id == customer.id, Conversation.id != conversation.id)
        .order_by(Conversation.created_at.desc())
        .limit(20)
    )
    return Profile(customer, list(identities), [(c, rating) for c, rating in earlier])


async def handoffs(session: AsyncSession, conversation_id: str) -> list[HandoffRequest]:
    rows = await session.scalars(
        select(HandoffRequest).where(HandoffRequest.conversation_id == conversation_id).order_by(HandoffRequest.id)
    )
    return list(rows)


async def last_customer_message(session: AsyncSession, conversation_id: str) -> Message | None:
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.sender == Sender.CUSTOMER)
        .order_by(Message.id.desc())
        .limit(1)
    )


async def user_by_id(session: AsyncSession, user_id: int | None) -> User | None:
    return None if user_id is None else await session.get(User, user_id)
