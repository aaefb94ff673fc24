"""The admins' metrics: ``GET /api/metrics`` (JSON); the page with charts is ``webhook/pages/metrics.py``.

The figures come from :mod:`webhook.store.metrics`; this module only reads and checks
the filters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from webhook.api.deps import AdminUser, RedactorDep, SessionDep, SettingsDep
from webhook.store.metrics import compute_metrics
from webhook.store.metrics_figures import (
    AgentFigures,
    ContentGap,
    CsatFigures,
    DayFigures,
    DeflectionFigures,
    HandoffFigures,
    PrivacyFigures,
)
from webhook.store.retention import privacy_figures

DEFAULT_DAYS = 30
# One bounded scan: a page of metrics is about weeks or months, not the whole history at once.
MAX_DAYS = 366

router = APIRouter(tags=["metrics"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in"},
    403: {"description": "signed in, but not an admin"},
    422: {"description": "a filter is not valid: {error: invalid_request, detail: [{field, problem}]}"},
}


def _invalid(field: str, value: str | None, problem: str) -> RequestValidationError:
    """The error the app's handler turns into 422 {"error": "invalid_request", "detail": [...]}."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", field), "msg": problem, "input": value}])


# The calendar's ends, as UTC: a moment beyond them (9999-12-31T23:59:59-14:00 is in year 10000 in UTC)
# is clamped to them, so a range "to the end of time" is answered rather than overflowing.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive means UTC), clamped to the calendar's ends."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a positive offset in year 1 falls before it, a negative one in 9999 after it
        return EARLIEST if (moment.utcoffset() or timedelta()) > timedelta() else LATEST


def parse_moment(value: str, field: str, *, end: bool) -> datetime:
    """An ISO date or datetime as an aware UTC datetime (naive means UTC), within year 1 to 9999.

    A bare date means the start of that day, or for the end of a range the end of it
    (the next midnight, as the range is half-open): ``to=2025-05-31`` includes the 31st.
    """
    text = value.strip()
    try:
        if "T" not in text and " " not in text and len(text) <= 10:
            day = date.fromisoformat(text)
            if end and day == date.max:
                return LATEST
            moment = datetime.combine(day, time(), UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise _invalid(field, value, "not an ISO date (2025-05-31) or datetime (2025-05-31T12:00:00Z)") from None
    return _in_utc(parsed)


def parse_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The half-open [from, to) of a request: by default the last 30 days up to now."""
    upper = parse_moment(end, "to", end=True) if end else now
    if start:
        lower = parse_moment(start, "from", end=False)
    else:  # 30 days back, or as far back as the calendar goes
        default = timedelta(days=DEFAULT_DAYS)
        lower = upper - default if upper - EARLIEST > default else EARLIEST
    if lower >= upper:
        raise _invalid("from", start, "must be before 'to'") if start else _invalid("to", end, "too early a date")
    if upper - lower > timedelta(days=MAX_DAYS):
        raise _invalid("from", start, f"the range may span at most {MAX_DAYS} days")
    return lower, upper


class MetricsRange(BaseModel):
    """What the figures are about: conversations created in [from, to), on that channel and in that language."""

    from_: str = Field(alias="from", description="ISO 8601, UTC")
    to: str = Field(description="ISO 8601, UTC; excluded")
    channel: str | None
    lang: str | None
    deflection_window_h: float
    generated_at: str


class MetricsOut(BaseModel):
    """The figures for one period; the definitions are in docs/agents.md ("Metrics")."""

    range: MetricsRange
    conversations: int
    deflection: DeflectionFigures
    handoffs: HandoffFigures
    csat: CsatFigures
    agents: AgentFigures
    content_gaps: list[ContentGap]
    series: list[DayFigures]
    privacy: PrivacyFigures


@router.get("/api/metrics", response_model=MetricsOut, responses=_ERRORS)
async def metrics(
    session: SessionDep,
    settings: SettingsDep,
    _admin: AdminUser,
    redactor: RedactorDep,
    start: str | None = Query(
        None, alias="from", description="ISO date or datetime (UTC unless it has an offset); default: 30 days ago"
    ),
    end: str | None = Query(
        None, alias="to", description="ISO date (that whole day is included) or datetime (excluded); default: now"
    ),
    channel: str | None = Query(None, pattern="^(web|telegram)?$", description="where the conversation started"),
    lang: str | None = Query(None, pattern="^(en|fa|ar)?$", description="the conversation's language"),
) -> MetricsOut:
    """Deflection, handoffs, CSAT, agents' response times, content gaps and a daily series.

    About the conversations created in [from, to); the definitions are in docs/agents.md ("Metrics").
    """
    now = datetime.now(UTC)
    lower, upper = parse_range(start, end, now)
    window_h = settings.deflection_window_h
    redact = redactor if settings.redact_analytics else None  # the content gaps' questions, masked
    figures = await compute_metrics(session, lower, upper, channel or None, lang or None, window_h, now, redact)
    period = {
        "from": lower.isoformat(),
        "to": upper.isoformat(),
        "channel": channel or None,
        "lang": lang or None,
        "deflection_window_h": window_h,
        "generated_at": now.isoformat(),
    }
    privacy = await privacy_figures(session, lower, upper, settings.retention_days)
    return MetricsOut.model_validate({"range": period, **dict(figures), "privacy": privacy})
