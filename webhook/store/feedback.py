"""CSAT answers and the deflection log: how the business knows whether the bot is worth having."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel, DeflectionStatus
from webhook.store.schema import Conversation, CsatResponse, Deflection


def _now() -> datetime:
    return datetime.now(UTC)


# -- CSAT -----------------------------------------------------------------------------
async def ask_csat(
    session: AsyncSession,
    conversation: Conversation,
    resolver: str,
    agent_id: int | None,
    channel: Channel,
    language: str,
) -> CsatResponse | None:
    """Record that the question is asked; None when it was asked before (at most once)."""
    if await session.scalar(select(CsatResponse.id).where(CsatResponse.conversation_id == conversation.id)):
        return None
    response = CsatResponse(
        conversation_id=conversation.id, resolver=resolver, agent_id=agent_id, channel=channel, language=language
    )
    session.add(response)
    await session.flush()
    return response


async def open_csat(session: AsyncSession, customer_id: str, max_age_h: float = 24.0) -> CsatResponse | None:
    """The customer's newest CSAT question still waiting for a rating or a comment."""
    return await session.scalar(
        select(CsatResponse)
        .join(Conversation, Conversation.id == CsatResponse.conversation_id)
        .where(
            Conversation.customer_id == customer_id,
            CsatResponse.asked_at >= _now() - timedelta(hours=max_age_h),
            (CsatResponse.rating.is_(None)) | (CsatResponse.awaiting_comment.is_(True)),
        )
        .order_by(CsatResponse.asked_at.desc())
        .limit(1)
    )


# -- deflections ----------------------------------------------------------------------
async def record_answer(
    session: AsyncSession,
    conversation_id: str,
    customer_id: str,
    article: str,
    channel: Channel | None,
    language: str | None,
) -> Deflection:
    """The bot answered with ``article``: the conversation counts as an assumed deflection (unless reverted)."""
    row = await session.scalar(select(Deflection).where(Deflection.conversation_id == conversation_id))
    if row is None:
        row = Deflection(
            conversation_id=conversation_id,
            customer_id=customer_id,
            status=DeflectionStatus.ASSUMED,
            articles=[article],
            channel=channel,
            language=language,
        )
        session.add(row)
    elif article not in row.articles:
        row.articles = [*row.articles, article]
    row.updated_at = _now()
    await session.flush()
    return row


async def confirm(session: AsyncSession, conversation_id: str) -> None:
    row = await session.scalar(select(Deflection).where(Deflection.conversation_id == conversation_id))
    if row is not None and row.status != DeflectionStatus.REVERTED:
        row.status = DeflectionStatus.CONFIRMED
        row.updated_at = _now()


async def revert(session: AsyncSession, conversation_id: str, reason: str) -> bool:
    """A handoff or a "didn't help" undoes the conversation's deflection, confirmed or not."""
    row = await session.scalar(select(Deflection).where(Deflection.conversation_id == conversation_id))
    if row is None or row.status == DeflectionStatus.REVERTED:
        return False
    row.status = DeflectionStatus.REVERTED
    row.reverted_reason = reason
    row.updated_at = _now()
    return True


async def revert_recontacts(
    session: AsyncSession, customer_id: str, conversation_id: str, articles: set[str], window_h: float
) -> list[str]:
    """The customer came back about the same topic: their assumed deflections on it within the window are undone."""
    if not articles:
        return []
    rows = await session.scalars(
        select(Deflection).where(
            Deflection.customer_id == customer_id,
            Deflection.conversation_id != conversation_id,
            Deflection.status == DeflectionStatus.ASSUMED,
            Deflection.created_at >= _now() - timedelta(hours=window_h),
        )
    )
    undone = []
    for row in rows:
        if articles & set(row.articles):
            row.status = DeflectionStatus.REVERTED
            row.reverted_reason = "recontact"
            row.updated_at = _now()
            undone.append(row.conversation_id)
    return undone
