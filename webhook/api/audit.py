"""The audit log for admins: ``GET /api/admin/audit``, newest first (the page is ``webhook/pages/audit.py``).

Filters: ``action`` (a prefix: ``customer`` finds ``customer.exported`` and
``customer.erased``), ``actor`` (a username, ``cli``, ``system``, ``api-key``), ``since``
(ISO date or datetime, UTC unless it has an offset); paging: pass ``before_id`` = the
previous page's ``next_before_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.api.deps import AdminUser, SessionDep
from webhook.api.errors import ErrorOut
from webhook.store import audit
from webhook.store.schema import AuditEvent

router = APIRouter(prefix="/api/admin/audit", tags=["audit"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class AuditEventOut(BaseModel):
    """Who did what; ``target`` names a record by our own id, ``detail`` holds counts and settings, never data."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    target: str | None
    detail: dict[str, Any] | None
    ip: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        out = cls.model_validate(event)
        at = out.at.replace(tzinfo=UTC) if out.at.tzinfo is None else out.at.astimezone(UTC)
        return out.model_copy(update={"at": at})


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page; null: no more")


def parse_since(value: str | None) -> datetime | None:
    """An ISO date or datetime as aware UTC (naive means UTC); a 422 when it is not one."""
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        problem = "not an ISO date (2025-05-31) or datetime (2025-05-31T12:00:00Z)"
        error = {"type": "value_error", "loc": ("query", "since"), "msg": problem, "input": value}
        raise RequestValidationError([error]) from None


async def audit_page(
    session: AsyncSession,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> AuditPageOut:
    """One page of events, newest first, and where the next one starts."""
    rows = await audit.events(session, action=action, actor=actor, since=since, before_id=before_id, limit=limit + 1)
    page = [AuditEventOut.of(event) for event in rows[:limit]]
    return AuditPageOut(events=page, next_before_id=page[-1].id if len(rows) > limit else None)


@router.get(
    "",
    response_model=AuditPageOut,
    responses={
        401: {"model": ErrorOut, "description": "not signed in"},
        403: {"model": ErrorOut, "description": "signed in, but not an admin"},
    },
)
async def audit_log(
    session: SessionDep,
    _admin: AdminUser,
    action: Annotated[str | None, Query(max_length=48, description="a prefix: sign_in, customer, article.")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="a username, cli, system or api-key")] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO date or datetime")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AuditPageOut:
    """The audit log, newest first: who did what, when and from where."""
    return await audit_page(
        session, action=action, actor=actor, since=parse_since(since), before_id=before_id, limit=limit
    )
