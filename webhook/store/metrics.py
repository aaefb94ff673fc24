"""The admins' metrics: deflection, handoffs, CSAT, agent response times, content gaps.

Every figure is about one scope: the conversations *created* in ``[start, end)``,
optionally of one channel (where the conversation started; ``last_channel`` for rows
older than that column) and one language. Rows of other tables count through their
conversation, so a CSAT answer or a handoff is attributed to the period its
conversation began in and the numbers of one period never change their denominator.

The queries are plain selects joined to that scope and are aggregated here in Python:
medians and percentiles, JSON payloads and per-day buckets have no portable SQL
between SQLite and PostgreSQL, and the scan is bounded by the scope anyway. Rows
are streamed, not loaded at once.

The definitions are documented in ``docs/agents.md`` ("Metrics").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, Text, cast, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.text import normalize
from webhook.domain.enums import Channel, DeflectionStatus, Sender
from webhook.store.schema import Conversation, CsatResponse, Deflection, HandoffRequest, Message, User

CONTENT_GAPS_LIMIT = 50
RATINGS = ("1", "2", "3", "4", "5")
_BATCH = 1000
_Ts = TypeVarTuple("_Ts")


def as_utc(moment: datetime) -> datetime:
    """Aware UTC: SQLite hands back naive datetimes (stored as UTC), PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between the closest ranks.

    The same as numpy's default and spreadsheets' PERCENTILE.INC, so a p90 can be
    checked by hand; ``percentile(v, 0.5)`` is the usual median. None when empty.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ratio(part: int, whole: int) -> float | None:
    # None rather than 0 when there is nothing to divide by: "no data" is not "0 %"
    return round(part / whole, 4) if whole else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _scope(start: datetime, end: datetime, channel: str | None, lang: str | None) -> list[ColumnElement[bool]]:
    """The WHERE clauses choosing the conversations counted."""
    # UTC on both sides: SQLite compares the stored text, which is UTC wall-clock time.
    clauses: list[ColumnElement[bool]] = [
        Conversation.created_at >= as_utc(start),
        Conversation.created_at < as_utc(end),
    ]
    if channel:
        started_on = func.coalesce(Conversation.channel, Conversation.last_channel)
        clauses.append(started_on == Channel(channel))
    if lang:
        clauses.append(Conversation.language == lang)
    return clauses


async def _stream(session: AsyncSession, statement: Select[*_Ts]) -> AsyncIterator[Row[*_Ts]]:
    """Rows in batches, so a long period never holds every row in memory."""
    result = await session.stream(statement.execution_options(yield_per=_BATCH))
    async for row in result:
        yield row


@dataclass
class _Rating:
    """Answered CSAT ratings of one group (the bot, all agents, one agent)."""

    asked: int = 0
    ratings: list[int] = field(default_factory=list)

    def add(self, rating: int | None) -> None:
        self.asked += 1
        if rating is not None:
            self.ratings.append(rating)

    def summary(self) -> dict[str, Any]:
        counts = Counter(str(r) for r in self.ratings)
        average = round(sum(self.ratings) / len(self.ratings), 4) if self.ratings else None
        return {
            "answered": len(self.ratings),
            "average": average,
            "distribution": {k: counts.get(k, 0) for k in RATINGS},
        }


@dataclass
class _Day:
    conversations: int = 0
    deflected: int = 0
    handoffs: int = 0


def _days(start: datetime, end: datetime) -> list[date]:
    """Every UTC date the half-open range [start, end) touches."""
    first = as_utc(start).date()
    last = (as_utc(end) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _person(user: User | None) -> dict[str, str | None]:
    # A deleted user leaves agent_id NULL (ON DELETE SET NULL): the row still counts, unnamed.
    if user is None:
        return {"username": None, "display_name": None}
    return {"username": user.username, "display_name": user.display_name}


async def _users(session: AsyncSession, ids: Iterable[int]) -> dict[int, User]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = await session.execute(select(User).where(User.id.in_(wanted)))
    return {user.id: user for user in found.scalars()}


async def compute_metrics(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    channel: str | None,
    lang: str | None,
    deflection_window_h: float,
    now: datetime,
) -> dict[str, Any]:
    """All the figures for the conversations created in [start, end); see the module docstring.

    ``now`` decides which assumed deflections are still pending (younger than
    ``deflection_window_h``); it is a parameter so that results are reproducible.
    """
    scope = _scope(start, end, channel, lang)
    days: dict[date, _Day] = {day: _Day() for day in _days(start, end)}

    def day_of(created_at: datetime) -> _Day:
        return days.setdefault(as_utc(created_at).date(), _Day())

    # -- conversations, and the agents' times ------------------------------------------
    total = 0
    first_response: list[float] = []
    resolution: list[float] = []
    per_agent: dict[int, dict[str, Any]] = {}
    conversations = select(
        Conversation.created_at,
        Conversation.agent_id,
        Conversation.queued_at,
        Conversation.first_agent_reply_at,
        Conversation.resolved_at,
        Conversation.resolved_by,
    ).where(*scope)
    async for created_at, agent_id, queued_at, replied_at, resolved_at, resolved_by in _stream(session, conversations):
        total += 1
        day_of(created_at).conversations += 1
        mine = None
        if agent_id is not None:
            mine = per_agent.setdefault(agent_id, {"conversations": 0, "first": [], "resolution": []})
            mine["conversations"] += 1
        if queued_at is None:
            continue
        if replied_at is not None:
            waited = (as_utc(replied_at) - as_utc(queued_at)).total_seconds()
            # negative: re-queued after the first reply; that wait is not a first response
            if waited >= 0:
                first_response.append(waited)
                if mine is not None:
                    mine["first"].append(waited)
        if resolved_at is not None and resolved_by == "agent":
            took = (as_utc(resolved_at) - as_utc(queued_at)).total_seconds()
            if took >= 0:
                resolution.append(took)
                if mine is not None:
                    mine["resolution"].append(took)

    # -- deflection ---------------------------------------------------------------------
    window = timedelta(hours=deflection_window_h)
    deflection: Counter[str] = Counter()
    by_article: Counter[str] = Counter()
    deflections = (
        select(Deflection.status, Deflection.created_at, Deflection.articles, Conversation.created_at)
        .join(Conversation, Conversation.id == Deflection.conversation_id)
        .where(*scope)
    )
    async for status, recorded_at, articles, created_at in _stream(session, deflections):
        if status == DeflectionStatus.ASSUMED:
            kind = "assumed" if as_utc(now) - as_utc(recorded_at) >= window else "pending"
        elif status in (DeflectionStatus.CONFIRMED, DeflectionStatus.REVERTED):
            kind = str(status)
        else:
            continue
        deflection[kind] += 1
        if kind in ("confirmed", "assumed"):
            day_of(created_at).deflected += 1
            keys = {str(a) for a in articles or [] if a}
            by_article.update(keys)
    deflected = deflection["confirmed"] + deflection["assumed"]

    # -- handoffs -----------------------------------------------------------------------
    handed_off: set[str] = set()
    reasons: dict[str, set[str]] = defaultdict(set)
    handoffs = (
        select(HandoffRequest.conversation_id, HandoffRequest.reason, Conversation.created_at)
        .join(Conversation, Conversation.id == HandoffRequest.conversation_id)
        .where(*scope)
    )
    async for conversation_id, reason, created_at in _stream(session, handoffs):
        if conversation_id not in handed_off:
            handed_off.add(conversation_id)
            day_of(created_at).handoffs += 1
        reasons[reason].add(conversation_id)
    by_reason = sorted(((r, len(c)) for r, c in reasons.items()), key=lambda rc: (-rc[1], rc[0]))

    # -- CSAT ---------------------------------------------------------------------------
    everyone, bot, agents = _Rating(), _Rating(), _Rating()
    per_agent_csat: dict[int | None, _Rating] = defaultdict(_Rating)
    csat = (
        select(CsatResponse.resolver, CsatResponse.agent_id, CsatResponse.rating)
        .join(Conversation, Conversation.id == CsatResponse.conversation_id)
        .where(*scope)
    )
    async for resolver, agent_id, rating in _stream(session, csat):
        everyone.add(rating)
        if resolver == "agent":
            agents.add(rating)
            per_agent_csat[agent_id].add(rating)
        else:
            bot.add(rating)

    # -- content gaps -------------------------------------------------------------------
    gaps = await _content_gaps(session, scope)

    users = await _users(session, [i for i in [*per_agent, *per_agent_csat] if i is not None])
    everyone_summary = everyone.summary()
    csat_agents = [
        {**_person(users.get(agent_id) if agent_id is not None else None), **rating.summary()}
        for agent_id, rating in per_agent_csat.items()
    ]
    csat_agents.sort(key=lambda a: (-a["answered"], a["username"] or ""))
    agent_rows = [
        {
            **_person(users.get(agent_id)),
            "conversations": row["conversations"],
            "first_response_median_s": _seconds(percentile(row["first"], 0.5)),
            "resolution_median_s": _seconds(percentile(row["resolution"], 0.5)),
        }
        for agent_id, row in per_agent.items()
    ]
    agent_rows.sort(key=lambda a: (-a["conversations"], a["username"] or ""))

    return {
        "conversations": total,
        "deflection": {
            "confirmed": deflection["confirmed"],
            "assumed": deflection["assumed"],
            "pending": deflection["pending"],
            "reverted": deflection["reverted"],
            "rate": _ratio(deflected, total),
            "confirmed_rate": _ratio(deflection["confirmed"], total),
            "assumed_rate": _ratio(deflection["assumed"], total),
            "by_article": [
                {"key": k, "count": n} for k, n in sorted(by_article.items(), key=lambda kn: (-kn[1], kn[0]))
            ],
        },
        "handoffs": {
            "total": len(handed_off),
            "rate": _ratio(len(handed_off), total),
            "by_reason": [
                {"reason": r, "count": n, "rate": _ratio(n, total), "share": _ratio(n, len(handed_off))}
                for r, n in by_reason
            ],
        },
        "csat": {
            "asked": everyone.asked,
            "answered": everyone_summary["answered"],
            "response_rate": _ratio(everyone_summary["answered"], everyone.asked),
            "average": everyone_summary["average"],
            "distribution": everyone_summary["distribution"],
            "bot": bot.summary(),
            "agent": agents.summary(),
            "agents": csat_agents,
        },
        "agents": {
            "first_response_s": _timing(first_response),
            "resolution_s": _timing(resolution),
            "per_agent": agent_rows,
        },
        "content_gaps": gaps,
        "series": [
            {
                "date": day.isoformat(),
                "conversations": d.conversations,
                "deflected": d.deflected,
                "handoffs": d.handoffs,
            }
            for day, d in sorted(days.items())
        ],
    }


def _timing(values: list[float]) -> dict[str, Any]:
    return {
        "median": _seconds(percentile(values, 0.5)),
        "p90": _seconds(percentile(values, 0.9)),
        "count": len(values),
    }


def declined_query(payload: Any) -> str | None:
    """The customer's question when a bot message records a knowledge-base decline, else None."""
    if not isinstance(payload, dict):
        return None
    record = payload.get("kb")
    if not isinstance(record, dict) or record.get("decision") != "decline":
        return None
    query = record.get("query")
    if not isinstance(query, str):
        return None
    return query.strip() or None


@dataclass
class _Gap:
    question: str
    language: str | None
    last_seen: datetime
    count: int = 0


async def _content_gaps(session: AsyncSession, scope: list[ColumnElement[bool]]) -> list[dict[str, Any]]:
    """The questions the bot declined, grouped by their normalised text, most frequent first.

    The JSON is read here rather than with a backend's JSON operators, to stay portable;
    a LIKE on the payload's text only narrows the scan (the parse decides).
    """
    statement = (
        select(Message.payload, Message.created_at, Message.id, Conversation.language)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            *scope,
            Message.sender == Sender.BOT,
            Message.payload.is_not(None),
            cast(Message.payload, Text).like('%"decline"%'),
        )
        .order_by(Message.created_at, Message.id)
    )
    groups: dict[str, _Gap] = {}
    async for payload, created_at, _id, language in _stream(session, statement):
        question = declined_query(payload)
        if question is None:
            continue
        key = normalize(question)
        if not key:
            continue
        seen = as_utc(created_at)
        gap = groups.get(key)
        if gap is None:
            gap = groups[key] = _Gap(question, language, seen)
        elif seen >= gap.last_seen:  # rows come oldest first: the latest wording wins
            gap.question, gap.language, gap.last_seen = question, language, seen
        gap.count += 1
    ranked = sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen.timestamp()))
    return [
        {"question": g.question, "count": g.count, "language": g.language, "last_seen": g.last_seen.isoformat()}
        for g in ranked[:CONTENT_GAPS_LIMIT]
    ]
