"""The admins' metrics: deflection, handoffs, CSAT, agent response times, content gaps.

Every figure is about one scope: the conversations *created* in ``[start, end)``,
optionally of one channel (where the conversation started; ``last_channel`` for rows
older than that column) and one language. Rows of other tables count through their
conversation, so a CSAT answer or a handoff is attributed to the period its
conversation began in and the numbers of one period never change their denominator.

The queries are plain selects joined to that scope and are aggregated here in Python:
medians and percentiles, JSON payloads and per-day buckets have no portable SQL
between SQLite and PostgreSQL, and the scan is bounded by the scope anyway. Rows
are streamed, not loaded at once. Each table has its own query function; the
figures are typed records (:mod:`webhook.store.metrics_figures`).

The definitions are documented in ``docs/agents.md`` ("Metrics").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, Text, cast, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.text import normalize
from webhook.domain.enums import Channel, DeflectionStatus, Sender
from webhook.domain.turns import ActionReport
from webhook.store.metrics_figures import (
    AgentFigures,
    AgentRating,
    AgentRow,
    ArticleCount,
    ContentGap,
    CsatFigures,
    DayFigures,
    DeflectionFigures,
    HandoffFigures,
    Metrics,
    RatingSummary,
    ReasonCount,
    Timing,
)
from webhook.store.schema import Conversation, CsatResponse, Deflection, HandoffRequest, Message, User

CONTENT_GAPS_LIMIT = 50
RATINGS = ("1", "2", "3", "4", "5")
_BATCH = 1000
_Ts = TypeVarTuple("_Ts")
Scope = list[ColumnElement[bool]]


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


def _timing(values: list[float]) -> Timing:
    return Timing(median=_seconds(percentile(values, 0.5)), p90=_seconds(percentile(values, 0.9)), count=len(values))


def _scope(start: datetime, end: datetime, channel: str | None, lang: str | None) -> Scope:
    """The WHERE clauses choosing the conversations counted."""
    # UTC on both sides: SQLite compares the stored text, which is UTC wall-clock time.
    clauses: Scope = [
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
class _Day:
    conversations: int = 0
    deflected: int = 0
    handoffs: int = 0


@dataclass
class _Series:
    """The per-day counts, with every UTC date of the period present (zeros included)."""

    days: dict[date, _Day]

    @classmethod
    def between(cls, start: datetime, end: datetime) -> _Series:
        """Every UTC date the half-open range [start, end) touches."""
        first = as_utc(start).date()
        last = (as_utc(end) - timedelta(microseconds=1)).date()
        return cls({first + timedelta(days=i): _Day() for i in range((last - first).days + 1)})

    def day_of(self, created_at: datetime) -> _Day:
        return self.days.setdefault(as_utc(created_at).date(), _Day())

    def figures(self) -> list[DayFigures]:
        return [
            DayFigures(date=day.isoformat(), conversations=d.conversations, deflected=d.deflected, handoffs=d.handoffs)
            for day, d in sorted(self.days.items())
        ]


def _names(user: User | None) -> tuple[str | None, str | None]:
    """An agent's username and display name."""
    # A deleted user leaves agent_id NULL (ON DELETE SET NULL): the row still counts, unnamed.
    return (None, None) if user is None else (user.username, user.display_name)


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
    redact: Callable[[str], str] | None = None,
) -> Metrics:
    """All the figures for the conversations created in [start, end); see the module docstring.

    ``now`` decides which assumed deflections are still pending (younger than
    ``deflection_window_h``); it is a parameter so that results are reproducible.
    ``redact`` masks personal data in the customers' questions (``REDACT_ANALYTICS``).
    """
    scope = _scope(start, end, channel, lang)
    series = _Series.between(start, end)
    conversations = await _tally_conversations(session, scope, series)
    total = conversations.total
    deflection = await _deflection(session, scope, series, total, timedelta(hours=deflection_window_h), now)
    handoffs = await _handoffs(session, scope, series, total)
    csat = await _tally_csat(session, scope)
    gaps = await _content_gaps(session, scope, redact)
    users = await _users(session, [i for i in [*conversations.per_agent, *csat.per_agent] if i is not None])
    return Metrics(
        conversations=total,
        deflection=deflection,
        handoffs=handoffs,
        csat=csat.figures(users),
        agents=conversations.figures(users),
        content_gaps=gaps,
        series=series.figures(),
    )


# -- conversations, and the agents' times ------------------------------------------------
@dataclass
class _AgentTally:
    conversations: int = 0
    first_response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)


@dataclass
class _ConversationTally:
    total: int = 0
    first_response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    per_agent: dict[int, _AgentTally] = field(default_factory=dict)

    def add_times(self, agent: _AgentTally | None, first_response: float | None, resolution: float | None) -> None:
        # negative: re-queued after the first reply; that wait is not a first response
        if first_response is not None and first_response >= 0:
            self.first_response.append(first_response)
            if agent is not None:
                agent.first_response.append(first_response)
        if resolution is not None and resolution >= 0:
            self.resolution.append(resolution)
            if agent is not None:
                agent.resolution.append(resolution)

    def figures(self, users: dict[int, User]) -> AgentFigures:
        rows = []
        for agent_id, tally in self.per_agent.items():
            username, display_name = _names(users.get(agent_id))
            rows.append(
                AgentRow(
                    username=username,
                    display_name=display_name,
                    conversations=tally.conversations,
                    first_response_median_s=_seconds(percentile(tally.first_response, 0.5)),
                    resolution_median_s=_seconds(percentile(tally.resolution, 0.5)),
                )
            )
        rows.sort(key=lambda a: (-a.conversations, a.username or ""))
        return AgentFigures(
            first_response_s=_timing(self.first_response), resolution_s=_timing(self.resolution), per_agent=rows
        )


def _since(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (as_utc(end) - as_utc(start)).total_seconds()


async def _tally_conversations(session: AsyncSession, scope: Scope, series: _Series) -> _ConversationTally:
    """The conversations per day and per agent, with the agents' first-response and resolution times."""
    tally = _ConversationTally()
    statement = select(
        Conversation.created_at,
        Conversation.agent_id,
        Conversation.queued_at,
        Conversation.first_agent_reply_at,
        Conversation.resolved_at,
        Conversation.resolved_by,
    ).where(*scope)
    async for created_at, agent_id, queued_at, replied_at, resolved_at, resolved_by in _stream(session, statement):
        tally.total += 1
        series.day_of(created_at).conversations += 1
        agent = None
        if agent_id is not None:
            agent = tally.per_agent.setdefault(agent_id, _AgentTally())
            agent.conversations += 1
        resolution = _since(queued_at, resolved_at) if resolved_by == "agent" else None
        tally.add_times(agent, _since(queued_at, replied_at), resolution)
    return tally


# -- deflection and handoffs ------------------------------------------------------------
async def _deflection(
    session: AsyncSession, scope: Scope, series: _Series, total: int, window: timedelta, now: datetime
) -> DeflectionFigures:
    """Deflections by status (an assumed one younger than ``window`` is pending), and by article."""
    counts: Counter[str] = Counter()
    by_article: Counter[str] = Counter()
    statement = (
        select(Deflection.status, Deflection.created_at, Deflection.articles, Conversation.created_at)
        .join(Conversation, Conversation.id == Deflection.conversation_id)
        .where(*scope)
    )
    async for status, recorded_at, articles, created_at in _stream(session, statement):
        if status == DeflectionStatus.ASSUMED:
            kind = "assumed" if as_utc(now) - as_utc(recorded_at) >= window else "pending"
        elif status in (DeflectionStatus.CONFIRMED, DeflectionStatus.REVERTED):
            kind = str(status)
        else:
            continue
        counts[kind] += 1
        if kind in ("confirmed", "assumed"):
            series.day_of(created_at).deflected += 1
            by_article.update({str(a) for a in articles or [] if a})
    return DeflectionFigures(
        confirmed=counts["confirmed"],
        assumed=counts["assumed"],
        pending=counts["pending"],
        reverted=counts["reverted"],
        rate=_ratio(counts["confirmed"] + counts["assumed"], total),
        confirmed_rate=_ratio(counts["confirmed"], total),
        assumed_rate=_ratio(counts["assumed"], total),
        by_article=[
            ArticleCount(key=k, count=n) for k, n in sorted(by_article.items(), key=lambda kn: (-kn[1], kn[0]))
        ],
    )


async def _handoffs(session: AsyncSession, scope: Scope, series: _Series, total: int) -> HandoffFigures:
    """The conversations handed off (each counted once), and per reason (one may have several)."""
    handed_off: set[str] = set()
    reasons: dict[str, set[str]] = defaultdict(set)
    statement = (
        select(HandoffRequest.conversation_id, HandoffRequest.reason, Conversation.created_at)
        .join(Conversation, Conversation.id == HandoffRequest.conversation_id)
        .where(*scope)
    )
    async for conversation_id, reason, created_at in _stream(session, statement):
        if conversation_id not in handed_off:
            handed_off.add(conversation_id)
            series.day_of(created_at).handoffs += 1
        reasons[reason].add(conversation_id)
    by_reason = sorted(((r, len(c)) for r, c in reasons.items()), key=lambda rc: (-rc[1], rc[0]))
    return HandoffFigures(
        total=len(handed_off),
        rate=_ratio(len(handed_off), total),
        by_reason=[
            ReasonCount(reason=r, count=n, rate=_ratio(n, total), share=_ratio(n, len(handed_off)))
            for r, n in by_reason
        ],
    )


# -- CSAT ------------------------------------------------------------------------------------
@dataclass
class _Rating:
    """Answered CSAT ratings of one group (the bot, all agents, one agent)."""

    asked: int = 0
    ratings: list[int] = field(default_factory=list)

    def add(self, rating: int | None) -> None:
        self.asked += 1
        if rating is not None:
            self.ratings.append(rating)

    @property
    def average(self) -> float | None:
        return round(sum(self.ratings) / len(self.ratings), 4) if self.ratings else None

    @property
    def distribution(self) -> dict[str, int]:
        counts = Counter(str(r) for r in self.ratings)
        return {k: counts.get(k, 0) for k in RATINGS}

    def summary(self) -> RatingSummary:
        return RatingSummary(answered=len(self.ratings), average=self.average, distribution=self.distribution)


@dataclass
class _CsatTally:
    everyone: _Rating = field(default_factory=_Rating)
    bot: _Rating = field(default_factory=_Rating)
    agents: _Rating = field(default_factory=_Rating)
    per_agent: dict[int | None, _Rating] = field(default_factory=lambda: defaultdict(_Rating))

    def figures(self, users: dict[int, User]) -> CsatFigures:
        agents = []
        for agent_id, rating in self.per_agent.items():
            username, display_name = _names(users.get(agent_id) if agent_id is not None else None)
            agents.append(
                AgentRating(
                    username=username,
                    display_name=display_name,
                    answered=len(rating.ratings),
                    average=rating.average,
                    distribution=rating.distribution,
                )
            )
        agents.sort(key=lambda a: (-a.answered, a.username or ""))
        everyone = self.everyone
        return CsatFigures(
            asked=everyone.asked,
            answered=len(everyone.ratings),
            response_rate=_ratio(len(everyone.ratings), everyone.asked),
            average=everyone.average,
            distribution=everyone.distribution,
            bot=self.bot.summary(),
            agent=self.agents.summary(),
            agents=agents,
        )


async def _tally_csat(session: AsyncSession, scope: Scope) -> _CsatTally:
    """CSAT answers: everyone's, the bot's, the agents' and each agent's."""
    tally = _CsatTally()
    statement = (
        select(CsatResponse.resolver, CsatResponse.agent_id, CsatResponse.rating)
        .join(Conversation, Conversation.id == CsatResponse.conversation_id)
        .where(*scope)
    )
    async for resolver, agent_id, rating in _stream(session, statement):
        tally.everyone.add(rating)
        if resolver == "agent":
            tally.agents.add(rating)
            tally.per_agent[agent_id].add(rating)
        else:
            tally.bot.add(rating)
    return tally


# -- content gaps ------------------------------------------------------------------------------
def declined_query(payload: Any) -> str | None:
    """The customer's question when a bot message records a knowledge-base decline, else None."""
    if not isinstance(payload, Mapping):
        return None
    record = ActionReport.read(payload).kb
    if record is None or record.decision != "decline" or record.query is None:
        return None
    return record.query.strip() or None


@dataclass
class _Gap:
    question: str
    language: str | None
    last_seen: datetime
    count: int = 0


async def _content_gaps(
    session: AsyncSession, scope: Scope, redact: Callable[[str], str] | None = None
) -> list[ContentGap]:
    """The questions the bot declined, grouped by their normalised text, most frequent first.

    The JSON is read here rather than with a backend's JSON operators, to stay portable;
    a LIKE on the payload's text only narrows the scan (the parse decides). With ``redact``
    a question is grouped and shown with its personal data masked ("my card [card] fails").
    """
    masked: dict[str, str] = {}  # each distinct question is redacted once
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
        if redact is not None:
            question = masked.get(question) or masked.setdefault(question, redact(question))
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
        ContentGap(question=g.question, count=g.count, language=g.language, last_seen=g.last_seen.isoformat())
        for g in ranked[:CONTENT_GAPS_LIMIT]
    ]
