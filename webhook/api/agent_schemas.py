"""The agent API's request bodies and response models (contract: docs/agents.md).

The responses are read straight from the agent service's records
(:mod:`webhook.services.agent_records`, ``from_attributes``). Times are written as
Python's ``isoformat()`` (``+00:00``), as the console has always received them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from webhook.domain.storable_text import StorableText

IsoTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str)]


class TextIn(BaseModel):
    text: StorableText = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    username: StorableText = Field(min_length=1, max_length=64)


class PresenceIn(BaseModel):
    available: bool


class PresenceOut(BaseModel):
    available: bool = Field(description="whether the agent takes new chats")


class Record(BaseModel):
    """A response read from a service record's attributes."""

    model_config = ConfigDict(from_attributes=True)


class AgentNameOut(Record):
    username: str
    display_name: str


# -- the queue -------------------------------------------------------------------------
class QueueCustomerOut(Record):
    name: str | None
    language: str | None
    channels: list[str]


class LastMessageOut(Record):
    text: str
    channel: str
    created_at: IsoTime | None


class QueueItemOut(Record):
    conversation_id: str
    status: str
    reason: str | None = Field(description="of the latest handoff request")
    queued_at: IsoTime | None
    position: int | None = Field(description="1 for the next to be taken; null unless waiting")
    ticket: bool = Field(description="handed off out of hours")
    customer: QueueCustomerOut
    last_message: LastMessageOut | None
    agent: AgentNameOut | None


class QueueOut(Record):
    waiting: list[QueueItemOut] = Field(description="oldest first")
    mine: list[QueueItemOut]
    others: list[QueueItemOut]
    online: bool = Field(description="whether any agent is available now")


# -- one conversation ------------------------------------------------------------------
class ConversationHeaderOut(Record):
    id: str
    status: str
    language: str | None
    last_channel: str | None
    created_at: IsoTime | None
    agent: AgentNameOut | None
    ticket: bool


class HandoffReasonOut(Record):
    reason: str
    detail: dict[str, Any] | None
    created_at: IsoTime | None


class OfferedArticleOut(Record):
    key: str
    title: str
    score: float
    decision: str
    query: str | None


class SummaryOut(Record):
    question: str | None = Field(description="the customer's first question")
    articles: list[OfferedArticleOut] = Field(description="what the bot offered, with scores")
    reactions: list[str] = Field(description="how the customer reacted")


class ChannelSeenOut(Record):
    channel: str
    last_seen_at: IsoTime | None


class EarlierConversationOut(Record):
    id: str
    created_at: IsoTime | None
    status: str
    csat: int | None


class CustomerProfileOut(Record):
    id: str
    name: str | None
    language: str | None
    channels: list[ChannelSeenOut]
    earlier: list[EarlierConversationOut]


class TranscriptMessageOut(Record):
    id: int
    sender: str
    channel: str
    text: str
    buttons: list[dict[str, str]]
    created_at: IsoTime
    author: str | None


class NoteOut(Record):
    id: int
    author: str
    text: str
    created_at: IsoTime | None


class PacketOut(Record):
    """The handoff packet: reason, summary, customer profile, the whole transcript, notes."""

    conversation: ConversationHeaderOut
    reason: str | None
    reasons: list[HandoffReasonOut]
    summary: SummaryOut
    customer: CustomerProfileOut
    transcript: list[TranscriptMessageOut]
    notes: list[NoteOut]


class MessageOut(Record):
    """A message as the customer's window sees it."""

    id: int
    conversation_id: str
    sender: str
    channel: str
    text: str
    buttons: list[dict[str, str]]
    created_at: IsoTime
    client_message_id: str | None
    author: str | None
