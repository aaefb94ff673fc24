"""The admins' metrics as typed records: what :func:`webhook.store.metrics.compute_metrics` returns.

Field order is the order of the keys in ``GET /api/metrics``; the definitions are in
``docs/agents.md`` ("Metrics"). Rates are None, not 0, when there is nothing to divide by.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class ArticleCount(Figures):
    """How many deflections one article took part in."""

    key: str
    count: int


class DeflectionFigures(Figures):
    confirmed: int
    assumed: int
    pending: int  # assumed, but younger than the deflection window
    reverted: int
    rate: float | None
    confirmed_rate: float | None
    assumed_rate: float | None
    by_article: list[ArticleCount]


class ReasonCount(Figures):
    """The conversations handed off for one reason: of all conversations (rate) and of those handed off (share)."""

    reason: str
    count: int
    rate: float | None
    share: float | None


class HandoffFigures(Figures):
    total: int
    rate: float | None
    by_reason: list[ReasonCount]


class RatingSummary(Figures):
    """The answered CSAT ratings of one group (the bot, all agents)."""

    answered: int
    average: float | None
    distribution: dict[str, int]  # "1" to "5"


class AgentRating(Figures):
    """One agent's CSAT ratings; the names are None when the agent was deleted."""

    username: str | None
    display_name: str | None
    answered: int
    average: float | None
    distribution: dict[str, int]


class CsatFigures(Figures):
    asked: int
    answered: int
    response_rate: float | None
    average: float | None
    distribution: dict[str, int]
    bot: RatingSummary
    agent: RatingSummary
    agents: list[AgentRating]


class Timing(Figures):
    """Seconds: the median, the 90th percentile, and how many values they are of."""

    median: float | None
    p90: float | None
    count: int


class AgentRow(Figures):
    """One agent's conversations and median times; the names are None when the agent was deleted."""

    username: str | None
    display_name: str | None
    conversations: int
    first_response_median_s: float | None
    resolution_median_s: float | None


class AgentFigures(Figures):
    first_response_s: Timing
    resolution_s: Timing
    per_agent: list[AgentRow]


class ContentGap(Figures):
    """A question the bot declined (its latest wording), how often, and when last."""

    question: str
    count: int
    language: str | None
    last_seen: str  # ISO 8601, UTC


class DayFigures(Figures):
    """One UTC day of the period, counted by the day each conversation was created."""

    date: str  # ISO date
    conversations: int
    deflected: int
    handoffs: int


class Metrics(Figures):
    """Every figure for the conversations created in one period."""

    conversations: int
    deflection: DeflectionFigures
    handoffs: HandoffFigures
    csat: CsatFigures
    agents: AgentFigures
    content_gaps: list[ContentGap]
    series: list[DayFigures]


class PrivacyFigures(Figures):
    """Erasures that happened in the period (not about the conversations created in it), from the audit log."""

    retention_days: int  # RETENTION_DAYS; 0: retention is off
    erased_by_retention: int  # conversations the daily retention run erased in [from, to)
    customers_erased: int  # customers erased on request (API or CLI) in [from, to)
    last_retention_run: str | None  # ISO 8601, UTC: when the last daily run finished
