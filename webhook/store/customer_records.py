"""What we hold about one customer, as typed records: the export (``GET /api/admin/customers/{ref}/export``).

Every table that holds a customer's data has a record here, with every column that
says something about them; :mod:`webhook.store.customer_data` fills them. The
answer to a data-access request is :class:`CustomerExport` as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field

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
    QuestionSuggestion,
    TelegramUpdate,
)


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
@overload
def aware(moment: datetime | None) -> datetime | None: ...
def aware(moment: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes, stored as UTC)."""
    return None if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class CustomerOut(Record):
    id: str
    display_name: str | None
    language: str | None
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(id=c.id, display_name=c.display_name, language=c.language, created_at=aware(c.created_at))


class IdentityOut(Record):
    channel: str
    external_id: str = Field(description="a Telegram user id, a verified user:<id>, or a web session's SHA-256")
    created_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, i: ChannelIdentity) -> IdentityOut:
        return cls(
            channel=str(i.channel),
            external_id=i.external_id,
            created_at=aware(i.created_at),
            last_seen_at=aware(i.last_seen_at),
        )


class MessageOut(Record):
    id: int
    sender: str
    channel: str
    text: str
    buttons: list[Any] | None
    payload: dict[str, Any] | None = Field(description="what the bot and the service recorded about the message")
    client_message_id: str | None
    author: str | None
    external_id: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            sender=str(m.sender),
            channel=str(m.channel),
            text=m.text,
            buttons=m.buttons,
            payload=m.payload,
            client_message_id=m.client_message_id,
            author=m.author,
            external_id=m.external_id,
            created_at=aware(m.created_at),
            delivered_at=aware(m.delivered_at),
        )


class HandoffOut(Record):
    reason: str
    detail: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, h: HandoffRequest) -> HandoffOut:
        return cls(reason=h.reason, detail=h.detail, created_at=aware(h.created_at))


class NoteOut(Record):
    author: str
    text: str
    created_at: datetime

    @classmethod
    def of(cls, n: AgentNote) -> NoteOut:
        return cls(author=n.author, text=n.text, created_at=aware(n.created_at))


class EventOut(Record):
    kind: str
    actor: str | None
    detail: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, e: ConversationEvent) -> EventOut:
        return cls(kind=e.kind, actor=e.actor, detail=e.detail, created_at=aware(e.created_at))


class CsatOut(Record):
    resolver: str
    channel: str
    language: str
    asked_at: datetime
    rating: int | None
    answered_at: datetime | None
    comment: str | None

    @classmethod
    def of(cls, r: CsatResponse) -> CsatOut:
        return cls(
            resolver=r.resolver,
            channel=str(r.channel),
            language=r.language,
            asked_at=aware(r.asked_at),
            rating=r.rating,
            answered_at=aware(r.answered_at),
            comment=r.comment,
        )


class ConversationOut(Record):
    id: str = Field(description="also Rasa's sender id")
    status: str
    language: str | None
    channel: str | None
    last_channel: str | None
    agent: str | None = Field(description="the username of the agent who has or had it")
    created_at: datetime
    queued_at: datetime | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    messages: list[MessageOut]
    handoff_requests: list[HandoffOut]
    notes: list[NoteOut]
    events: list[EventOut]
    csat: CsatOut | None


def conversation_out(
    c: Conversation,
    agent: str | None,
    messages: list[MessageOut],
    handoffs: list[HandoffOut],
    notes: list[NoteOut],
    events: list[EventOut],
    csat: CsatOut | None,
) -> ConversationOut:
    return ConversationOut(
        id=c.id,
        status=str(c.status),
        language=c.language,
        channel=None if c.channel is None else str(c.channel),
        last_channel=None if c.last_channel is None else str(c.last_channel),
        agent=agent,
        created_at=aware(c.created_at),
        queued_at=aware(c.queued_at),
        claimed_at=aware(c.claimed_at),
        resolved_at=aware(c.resolved_at),
        resolved_by=c.resolved_by,
        messages=messages,
        handoff_requests=handoffs,
        notes=notes,
        events=events,
        csat=csat,
    )


class DeflectionOut(Record):
    conversation_id: str
    status: str
    articles: list[Any]
    channel: str | None
    language: str | None
    created_at: datetime
    reverted_reason: str | None

    @classmethod
    def of(cls, d: Deflection) -> DeflectionOut:
        return cls(
            conversation_id=d.conversation_id,
            status=d.status,
            articles=list(d.articles or []),
            channel=None if d.channel is None else str(d.channel),
            language=d.language,
            created_at=aware(d.created_at),
            reverted_reason=d.reverted_reason,
        )


class LinkCodeOut(Record):
    """A code to join another channel; the code itself is never stored (only its hash)."""

    target: str
    conversation_id: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None

    @classmethod
    def of(cls, link: LinkCode) -> LinkCodeOut:
        return cls(
            target=str(link.target),
            conversation_id=link.conversation_id,
            created_at=aware(link.created_at),
            expires_at=aware(link.expires_at),
            used_at=aware(link.used_at),
            used_by=link.used_by,
        )


class SuggestionOut(Record):
    """A question learnt from their conversations, with only their own evidence."""

    key: str
    lang: str
    text: str
    status: str
    evidence: list[Any] = Field(description="[conversation id, kind] pairs of this customer's conversations")
    first_seen_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, s: QuestionSuggestion, conversation_ids: set[str]) -> SuggestionOut:
        return cls(
            key=s.key,
            lang=s.lang,
            text=s.text,
            status=s.status,
            evidence=[pair for pair in s.evidence or [] if pair and pair[0] in conversation_ids],
            first_seen_at=aware(s.first_seen_at),
            last_seen_at=aware(s.last_seen_at),
        )


class TelegramUpdateOut(Record):
    update_id: int
    received_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, u: TelegramUpdate) -> TelegramUpdateOut:
        return cls(update_id=u.update_id, received_at=aware(u.received_at), payload=u.payload)


class CustomerExport(Record):
    """Everything we hold about one customer (docs/security.md, "Export")."""

    exported_at: datetime
    customer: CustomerOut
    identities: list[IdentityOut]
    conversations: list[ConversationOut]
    deflections: list[DeflectionOut]
    link_codes: list[LinkCodeOut]
    suggestions: list[SuggestionOut]
    telegram_updates: list[TelegramUpdateOut] = Field(description="the raw updates Telegram sent for them")


class ErasureReport(Record):
    """What an erasure removed and what it kept anonymously, in rows per table (no data itself)."""

    customer_id: str = Field(description="our id of the erased customer (it names nobody any more)")
    erased_at: datetime
    deleted: dict[str, int] = Field(description="rows deleted per table; tracker_events: Rasa's tracker store")
    anonymised: dict[str, int] = Field(description="rows kept for the figures, with what named the customer removed")
