"""The audit log's queries: append one event, list them newest first.

The table is append-only (see migration 0007); there is no update or delete here.
Callers record an event inside the same transaction as what it describes, so an
action and its record commit, or roll back, together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.store.schema import AuditEvent, User

SYSTEM = "system"


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: User | str = SYSTEM,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one event to the session (the caller commits)."""
    if isinstance(actor, User):
        name, actor_id = actor.username, actor.id
    else:
        name, actor_id = actor, None
    event = AuditEvent(actor=name[:200], actor_id=actor_id, action=action[:48], target=target, detail=detail, ip=ip)
    session.add(event)
    return event


async def events(
    session: AsyncSession,
    *,
    action: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Events newest first; ``action`` matches a prefix (``sign_in`` finds ``sign_in.failed`` too)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    return (await session.scalars(query)).all()
