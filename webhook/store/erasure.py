"""Erasing a customer, and anonymising conversations, in our tables (docs/security.md, "Erasure").

What the customer said or is known by goes: their messages (undelivered ones, the
outbox, included), agents' notes, CSAT comments, the details of handoffs and
conversation events, link codes, the Telegram updates that name them, their
evidence on learnt questions (and the question itself when they were its only
source), their channel identities and the customer row.

What stays is anonymous, so that the figures on ``/metrics`` do not change: each
conversation keeps its skeleton (status, times, channel, language, the agent who
handled it) under the one :data:`ANONYMOUS_CUSTOMER_ID`, which has no identity, no
name and is never found; a CSAT response keeps its rating, a handoff its reason, a
deflection its articles. A conversation still open is closed (``resolved_by`` =
``erased``). Rasa's trackers are erased by the caller (:mod:`webhook.runtime.tracker_store`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.store.customer_data import (
    ANONYMOUS_CUSTOMER_ID,
    identities,
    suggestions_naming,
    telegram_updates_of,
)
from webhook.store.schema import (
    AgentNote,
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    CsatResponse,
    Customer,
    Deflection,
    HandoffRequest,
    LinkCode,
    Message,
    TelegramUpdate,
)

ERASED = "erased"  # resolved_by of a conversation that was still open when its customer was erased
_BATCH = 200
_KINDS = ("confirmed", "chosen", "unhelpful")


@dataclass
class ErasureCounts:
    """Rows per table: deleted, and anonymised (kept without what named the customer)."""

    deleted: Counter[str] = field(default_factory=Counter)
    anonymised: Counter[str] = field(default_factory=Counter)

    def add(self, other: ErasureCounts) -> None:
        self.deleted.update(other.deleted)
        self.anonymised.update(other.anonymised)

    def as_json(self) -> dict[str, dict[str, int]]:
        return {
            "deleted": {k: v for k, v in sorted(self.deleted.items()) if v},
            "anonymised": {k: v for k, v in sorted(self.anonymised.items()) if v},
        }


def _affected(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _batches(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[start : start + _BATCH]) for start in range(0, len(ids), _BATCH)]


async def ensure_anonymous_customer(session: AsyncSession) -> None:
    """The anonymous customer, made once (``INSERT ... ON CONFLICT DO NOTHING``, safe in parallel)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Customer).values(id=ANONYMOUS_CUSTOMER_ID, created_at=datetime.now(UTC))
    await session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


async def lock_conversations(session: AsyncSession, customer_id: str) -> list[str]:
    """The customer's conversation ids, locked until the transaction ends (PostgreSQL; SQLite locks the file)."""
    rows = await session.scalars(
        select(Conversation.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at)
        .with_for_update()
    )
    return list(rows)


async def anonymise_conversations(session: AsyncSession, ids: Sequence[str], now: datetime) -> ErasureCounts:
    """Strip these conversations down to their anonymous skeleton (see the module docstring)."""
    counts = ErasureCounts()
    await ensure_anonymous_customer(session)
    for batch in _batches(ids):
        in_batch = Message.conversation_id.in_(batch)
        outbox = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(in_batch, Message.delivered_at.is_(None), Message.sender != Sender.CUSTOMER)
        )
        counts.deleted["outbox"] += int(outbox or 0)  # replies awaiting delivery, a subset of messages
        counts.deleted["messages"] += _affected(await session.execute(delete(Message).where(in_batch)))
        counts.deleted["agent_notes"] += _affected(
            await session.execute(delete(AgentNote).where(AgentNote.conversation_id.in_(batch)))
        )
        counts.deleted["link_codes"] += _affected(
            await session.execute(delete(LinkCode).where(LinkCode.conversation_id.in_(batch)))
        )
        for model in (HandoffRequest, ConversationEvent):
            statement = update(model).where(model.conversation_id.in_(batch), model.detail.is_not(None))
            counts.anonymised[model.__tablename__] += _affected(await session.execute(statement.values(detail=None)))
        counts.anonymised["csat_responses"] += _affected(
            await session.execute(
                update(CsatResponse)
                .where(CsatResponse.conversation_id.in_(batch), CsatResponse.comment.is_not(None))
                .values(comment=None, awaiting_comment=False)
            )
        )
        counts.anonymised["deflections"] += _affected(
            await session.execute(
                update(Deflection)
                .where(Deflection.conversation_id.in_(batch))
                .values(customer_id=ANONYMOUS_CUSTOMER_ID)
            )
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(batch), Conversation.status != ConversationStatus.RESOLVED)
            .values(status=ConversationStatus.RESOLVED, resolved_at=now, resolved_by=ERASED)
        )
        counts.anonymised["conversations"] += _affected(
            await session.execute(
                update(Conversation).where(Conversation.id.in_(batch)).values(customer_id=ANONYMOUS_CUSTOMER_ID)
            )
        )
    counts.add(await forget_evidence(session, ids))
    return counts


async def forget_evidence(session: AsyncSession, ids: Sequence[str]) -> ErasureCounts:
    """Take these conversations' evidence off learnt questions.

    A question they were the only source of is deleted; one that others asked too
    keeps its counts from the others, and its first wording (maybe theirs) gives way
    to the normalised form that every source's wording shares.
    """
    counts, wanted = ErasureCounts(), set(ids)
    for row in await suggestions_naming(session, list(ids)):
        theirs = [pair for pair in row.evidence or [] if pair and pair[0] in wanted]
        row.evidence = [pair for pair in row.evidence or [] if not (pair and pair[0] in wanted)]
        for _conversation, kind in theirs:
            if kind in _KINDS:
                setattr(row, kind, max(0, getattr(row, kind) - 1))
        if not row.evidence and not any(getattr(row, kind) for kind in _KINDS):
            await session.delete(row)
            counts.deleted["question_suggestions"] += 1
        else:
            row.text = row.normalized[:500]
            counts.anonymised["question_suggestions"] += 1
    await session.flush()
    return counts


async def erase_customer(session: AsyncSession, customer: Customer) -> ErasureCounts:
    """Delete the customer, their identities, link codes and Telegram updates (conversations done before)."""
    counts = ErasureCounts()
    known = await identities(session, customer.id)
    external_ids = [i.external_id for i in known]
    telegram = [i.external_id for i in known if i.channel == Channel.TELEGRAM]
    updates = [u.update_id for u in await telegram_updates_of(session, telegram)]
    for start in range(0, len(updates), _BATCH):
        chunk = updates[start : start + _BATCH]
        counts.deleted["telegram_updates"] += _affected(
            await session.execute(delete(TelegramUpdate).where(TelegramUpdate.update_id.in_(chunk)))
        )
    mine = LinkCode.customer_id == customer.id
    counts.deleted["link_codes"] += _affected(
        await session.execute(delete(LinkCode).where(or_(mine, LinkCode.used_by.in_(external_ids))))
    )
    counts.anonymised["deflections"] += _affected(
        await session.execute(
            update(Deflection).where(Deflection.customer_id == customer.id).values(customer_id=ANONYMOUS_CUSTOMER_ID)
        )
    )
    counts.deleted["channel_identities"] += _affected(
        await session.execute(delete(ChannelIdentity).where(ChannelIdentity.customer_id == customer.id))
    )
    session.expunge(customer)
    counts.deleted["customers"] += _affected(await session.execute(delete(Customer).where(Customer.id == customer.id)))
    return counts
