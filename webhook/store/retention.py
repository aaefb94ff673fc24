"""Retention's queries: what is past keeping, the daily claim, and the figures for ``/metrics``.

A conversation is past keeping when it was resolved before the cutoff (now less
``RETENTION_DAYS``); a customer, when they have no conversation left that is not
past keeping, were created before the cutoff and no identity of theirs was seen
since. A processed Telegram update received before the cutoff goes too (it is a raw
copy of a message).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, not_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import ConversationStatus
from webhook.store.customer_data import ANONYMOUS_CUSTOMER_ID
from webhook.store.metrics_figures import PrivacyFigures
from webhook.store.schema import AuditEvent, ChannelIdentity, Conversation, Customer, ScheduledRun, TelegramUpdate

RETENTION_TASK = "retention"
RETENTION_ACTION = "retention.erased"


def _expired(cutoff: datetime) -> Any:
    return and_(Conversation.status == ConversationStatus.RESOLVED, Conversation.resolved_at < cutoff)


async def expired_conversations(session: AsyncSession, cutoff: datetime, limit: int) -> list[str]:
    """Conversations of real customers resolved before ``cutoff``, the oldest first."""
    rows = await session.scalars(
        select(Conversation.id)
        .where(_expired(cutoff), Conversation.customer_id != ANONYMOUS_CUSTOMER_ID)
        .order_by(Conversation.resolved_at)
        .limit(limit)
        .with_for_update()
    )
    return list(rows)


async def all_expired_conversations(session: AsyncSession, cutoff: datetime) -> list[str]:
    """Every conversation id :func:`expired_conversations` would give (a dry run's figures)."""
    rows = await session.scalars(
        select(Conversation.id).where(_expired(cutoff), Conversation.customer_id != ANONYMOUS_CUSTOMER_ID)
    )
    return list(rows)


async def customers_left_with_nothing(session: AsyncSession, cutoff: datetime, limit: int | None) -> list[Customer]:
    """Customers with nothing but conversations past keeping, made before ``cutoff`` and not seen since."""
    kept = exists().where(Conversation.customer_id == Customer.id, not_(_expired(cutoff)))
    seen = exists().where(ChannelIdentity.customer_id == Customer.id, ChannelIdentity.last_seen_at >= cutoff)
    statement = (
        select(Customer)
        .where(Customer.id != ANONYMOUS_CUSTOMER_ID, Customer.created_at < cutoff, ~kept, ~seen)
        .order_by(Customer.created_at)
    )
    return list(await session.scalars(statement if limit is None else statement.limit(limit)))


def _old_updates(cutoff: datetime) -> Any:
    return and_(TelegramUpdate.processed_at.is_not(None), TelegramUpdate.received_at < cutoff)


async def delete_old_telegram_updates(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(TelegramUpdate).where(_old_updates(cutoff)))
    return int(getattr(result, "rowcount", 0) or 0)


async def count_old_telegram_updates(session: AsyncSession, cutoff: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(TelegramUpdate).where(_old_updates(cutoff))) or 0)


# -- the daily claim ------------------------------------------------------------------
async def claim_run(session: AsyncSession, task: str, period: str) -> bool:
    """Whether this worker takes ``task`` for ``period``: the one whose insert lands (the caller commits)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ScheduledRun).values(task=task, period=period, claimed_at=datetime.now(UTC))
    claimed = statement.on_conflict_do_nothing(index_elements=["task", "period"]).returning(ScheduledRun.task)
    return (await session.execute(claimed)).first() is not None


async def finish_run(session: AsyncSession, task: str, period: str, result: dict[str, Any]) -> None:
    await session.execute(
        update(ScheduledRun)
        .where(ScheduledRun.task == task, ScheduledRun.period == period)
        .values(finished_at=datetime.now(UTC), result=result)
    )


async def last_run(session: AsyncSession, task: str = RETENTION_TASK) -> ScheduledRun | None:
    return await session.scalar(
        select(ScheduledRun)
        .where(ScheduledRun.task == task, ScheduledRun.finished_at.is_not(None))
        .order_by(ScheduledRun.finished_at.desc())
        .limit(1)
    )


async def erased_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """(conversations erased by retention, customers erased on request) in [start, end), from the audit log."""
    rows = await session.execute(
        select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.action.in_((RETENTION_ACTION, "customer.erased")), AuditEvent.at >= start, AuditEvent.at < end
        )
    )
    by_retention = by_request = 0
    for action, detail in rows:
        if action == RETENTION_ACTION:
            by_retention += int((detail or {}).get("conversations") or 0)
        else:
            by_request += 1
    return by_retention, by_request


async def privacy_figures(session: AsyncSession, start: datetime, end: datetime, retention_days: int) -> PrivacyFigures:
    """What ``/metrics`` shows of erasure and retention for [start, end)."""
    by_retention, by_request = await erased_between(session, start, end)
    run = await last_run(session)
    finished = None if run is None or run.finished_at is None else run.finished_at
    if finished is not None and finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)
    return PrivacyFigures(
        retention_days=retention_days,
        erased_by_retention=by_retention,
        customers_erased=by_request,
        last_retention_run=None if finished is None else finished.astimezone(UTC).isoformat(),
    )
