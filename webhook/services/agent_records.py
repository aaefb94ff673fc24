"""What the agent service hands its callers: the queue, the handoff packet and a note, as typed records.

Times are aware UTC datetimes (SQLite hands back naive ones, read here as UTC);
statuses and channels are their plain string values. The API turns these into its
response models (``webhook/api/agent_schemas.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook.store import agents as repo
from webhook.store.conversations import StoredMessage
from webhook.store.schema import AgentNote, Conversation, HandoffRequest, Message, User


@dataclass(frozen=True)
class AgentName:
    """The agent a conversation is with."""

    username: str
    display_name: str

    @classmethod
    def of(cls, user: User | None) -> AgentName | None:
        return None if user is None else cls(user.username, user.display_name)


# -- the queue -------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueCustomer:
    name: str | None
    language: str | None
    channels: list[str]  # every channel the customer has used, sorted


@dataclass(frozen=True)
class LastMessage:
    """The customer's latest message, as a preview."""

    text: str
    channel: str
    created_at: datetime | None

    @classmethod
    def of(cls, message: Message | None) -> LastMessage | None:
        if message is None:
            return None
        return cls(message.text, str(message.channel), repo.aware(message.created_at))


@dataclass(frozen=True)
class QueueItem:
    conversation_id: str
    status: str
    reason: str | None  # of the latest handoff request
    queued_at: datetime | None
    position: int | None  # 1 for the next to be taken; None unless waiting
    ticket: bool  # left out of hours
    customer: QueueCustomer
    last_message: LastMessage | None
    agent: AgentName | None


@dataclass(frozen=True)
class Queue:
    """Waiting conversations (oldest first), the agent's own, the other agents', and whether anyone is online."""

    waiting: list[QueueItem]
    mine: list[QueueItem]
    others: list[QueueItem]
    online: bool


# -- one conversation ------------------------------------------------------------------
@dataclass(frozen=True)
class ConversationHeader:
    id: str
    status: str
    language: str | None
    last_channel: str | None
    created_at: datetime | None
    agent: AgentName | None
    ticket: bool

    @classmethod
    def of(cls, conversation: Conversation, owner: User | None) -> ConversationHeader:
        return cls(
            id=conversation.id,
            status=str(conversation.status),
            language=conversation.language,
            last_channel=str(conversation.last_channel) if conversation.last_channel else None,
            created_at=repo.aware(conversation.created_at),
            agent=AgentName.of(owner),
            ticket=bool(conversation.ticket),
        )


@dataclass(frozen=True)
class HandoffReason:
    reason: str
    detail: dict[str, Any] | None
    created_at: datetime | None

    @classmethod
    def of(cls, request: HandoffRequest) -> HandoffReason:
        return cls(request.reason, request.detail, repo.aware(request.created_at))


@dataclass(frozen=True)
class OfferedArticle:
    """An article the bot offered, with its score, the decision and the question it was offered for."""

    key: str
    title: str
    score: float
    decision: str
    query: str | None  # None when the customer picked the article from a clarification


@dataclass(frozen=True)
class Summary:
    """The customer's first question, what the bot offered, and how the customer reacted."""

    question: str | None
    articles: list[OfferedArticle]
    reactions: list[str]


@dataclass(frozen=True)
class ChannelSeen:
    channel: str
    last_seen_at: datetime | None


@dataclass(frozen=True)
class EarlierConversation:
    id: str
    created_at: datetime | None
    status: str
    csat: int | None


@dataclass(frozen=True)
class CustomerProfile:
    id: str
    name: str | None
    language: str | None
    channels: list[ChannelSeen]  # most recently seen first
    earlier: list[EarlierConversation]

    @classmethod
    def of(cls, profile: repo.Profile) -> CustomerProfile:
        return cls(
            id=profile.customer.id,
            name=profile.customer.display_name,
            language=profile.customer.language,
            channels=[ChannelSeen(str(i.channel), repo.aware(i.last_seen_at)) for i in profile.channels],
            earlier=[
                EarlierConversation(c.id, repo.aware(c.created_at), str(c.status), rating)
                for c, rating in profile.earlier
            ],
        )


@dataclass(frozen=True)
class Note:
    """An internal note: other agents see it, the customer never does."""

    id: int
    author: str
    text: str
    created_at: datetime | None

    @classmethod
    def of(cls, note: AgentNote) -> Note:
        return cls(note.id, note.author, note.text, repo.aware(note.created_at))


@dataclass(frozen=True)
class Packet:
    """The handoff packet: what an agent reads first."""

    conversation: ConversationHeader
    reason: str | None  # of the latest handoff request
    reasons: list[HandoffReason]
    summary: Summary
    customer: CustomerProfile
    transcript: list[StoredMessage]  # the whole conversation, across channels
    notes: list[Note]
