"""The domain model's tables, after Chatwoot's: contacts (customers), their
channel identities, conversations, messages; plus help-centre articles, the
handoff requests the bot records, and the console's users and their tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from webhook.domain.enums import (
    ArticleStatus,
    Channel,
    ConversationStatus,
    DeflectionStatus,
    Role,
    Sender,
    SuggestionStatus,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        # none_as_null: a missing payload is SQL NULL, not the JSON text "null"
        dict[str, Any]: JSON(none_as_null=True),
        list[Any]: JSON(none_as_null=True),
    }


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # stored as plain strings so the schema is identical on SQLite and PostgreSQL
    return Enum(cls, name=name, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    display_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="customer")


class ChannelIdentity(Base):
    """How a customer is known on one channel: a web session token's SHA-256, ``user:<id>``, a Telegram id."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Conversation(Base):
    """One thread with one customer, across channels. Its id is Rasa's sender id."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_customer_status", "customer_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[ConversationStatus] = mapped_column(
        _enum(ConversationStatus, "conversation_status"), default=ConversationStatus.BOT, index=True
    )
    language: Mapped[str | None] = mapped_column(String(8))
    last_channel: Mapped[Channel | None] = mapped_column(_enum(Channel, "channel"))
    channel: Mapped[Channel | None] = mapped_column(_enum(Channel, "channel"), doc="where it started")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    queued_at: Mapped[datetime | None] = mapped_column(doc="handed off: waiting since")
    ticket: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), doc="left out of hours")
    claimed_at: Mapped[datetime | None] = mapped_column()
    first_agent_reply_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(16), doc="bot, or agent")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_message_id", name="uq_message_client_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_outbox", "channel", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender: Mapped[Sender] = mapped_column(_enum(Sender, "sender"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[Any] | None] = mapped_column()
    payload: Mapped[dict[str, Any] | None] = mapped_column(doc="extra data: the article shown, search scores")
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200), doc="the name the customer sees (an agent)")
    external_id: Mapped[str | None] = mapped_column(String(64), doc="the channel's own id (a Telegram message id)")
    # The outbox: a message for a push channel (Telegram) is stored first, then delivered.
    delivered_at: Mapped[datetime | None] = mapped_column()
    delivery_claimed_at: Mapped[datetime | None] = mapped_column()
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class HandoffRequest(Base):
    """A customer asked for, or the bot offered and the customer accepted, a human."""

    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code that joins another channel to a customer's conversation.

    Only the code's SHA-256 is stored: a database leak gives nobody a way in.
    """

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    target: Mapped[Channel] = mapped_column(_enum(Channel, "channel"), doc="the channel that redeems it")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_by: Mapped[str | None] = mapped_column(String(200))


class TelegramUpdate(Base):
    """Every Telegram update, stored before it is acknowledged: processed once, never lost."""

    __tablename__ = "telegram_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)


class ArticleRecord(Base):
    """The head of one translation of one help-centre article: its latest version.

    What customers see is the version ``published_version`` (kept in
    ``article_versions``), so a draft can be edited while an older version stays live.
    """

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("key", "lang", name="uq_article_key_lang"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), index=True)
    lang: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default=ArticleStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_version: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ArticleVersion(Base):
    """Every saved version of a translation, never changed afterwards: the history and the rollback source."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("key", "lang", "version", name="uq_article_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))
    lang: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    author: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(200), doc="what made this version: edit, rollback to 3, import")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who signs in to the agent console.

    Usernames are unique regardless of case (``Alice`` cannot impersonate ``alice``);
    only a password hash is stored (Argon2id, self-describing, so its cost can change).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), doc="the name customers see")
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


# Unique regardless of case; logins look the name up through the same expression.
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class AgentToken(Base):
    """A console session: a bearer token (or the same token in the browser's cookie).

    Only the token's SHA-256 is stored, so a database leak signs nobody in.
    """

    __tablename__ = "agent_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AgentPresence(Base):
    """Whether an agent is there to answer: available, and seen by the console recently."""

    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentNote(Base):
    """An internal note on a conversation: for agents only, never sent to the customer."""

    __tablename__ = "agent_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationEvent(Base):
    """What happened to a conversation and who did it: handoff, claim, transfer, release, resolve."""

    __tablename__ = "conversation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200), doc="an agent's username, bot or customer")
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatResponse(Base):
    """The satisfaction question of one resolved conversation, and the answer if any."""

    __tablename__ = "csat_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True, doc="asked at most once"
    )
    resolver: Mapped[str] = mapped_column(String(16), doc="bot, or agent")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    language: Mapped[str] = mapped_column(String(8))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    rating: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    awaiting_comment: Mapped[bool] = mapped_column(Boolean, default=False)


class Deflection(Base):
    """A ticket the bot resolved without a human, with the articles that did it."""

    __tablename__ = "deflections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeflectionStatus.ASSUMED)
    articles: Mapped[list[Any]] = mapped_column(default=list)
    channel: Mapped[Channel | None] = mapped_column(_enum(Channel, "channel"))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    reverted_reason: Mapped[str | None] = mapped_column(String(32))


class QuestionSuggestion(Base):
    """A customer's question that an article answered, by the customer's own account: a phrasing to learn.

    Counted once per conversation and kind of evidence: ``confirmed`` ("yes, it
    helped" after the answer), ``chosen`` (picked from the articles offered),
    ``unhelpful`` ("no" after being answered with it). ``evidence`` keeps the most
    recent [conversation id, kind] pairs, so an editor can read the conversations.
    """

    __tablename__ = "question_suggestions"
    __table_args__ = (
        UniqueConstraint("key", "lang", "normalized", name="uq_question_suggestion"),
        Index("ix_question_suggestions_status_key", "status", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), doc="the article")
    lang: Mapped[str] = mapped_column(String(8), doc="the translation the customer was shown")
    text: Mapped[str] = mapped_column(String(500), doc="the question as first asked")
    normalized: Mapped[str] = mapped_column(String(500), doc="the same question asked another way meets here")
    status: Mapped[str] = mapped_column(String(16), default=SuggestionStatus.PENDING)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    chosen: Mapped[int] = mapped_column(Integer, default=0)
    unhelpful: Mapped[int] = mapped_column(Integer, default=0)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(200))

    @hybrid_property
    def support(self) -> int:
        """How strongly customers vouch for it: confirmations and picks, less "didn't help"s (also in SQL)."""
        return self.confirmed + self.chosen - self.unhelpful


class AuditEvent(Base):
    """Who did what, append-only (a database trigger refuses UPDATE and DELETE).

    Never holds a customer's text or identifiers: ``target`` names a record by our
    own id (``conversation:<id>``, ``user:<id>``, ``article:<key>/<lang>``) and
    ``detail`` holds counts and settings, so an erasure leaves this record intact.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200), doc="a username, or system / cli")
    actor_id: Mapped[int | None] = mapped_column(Integer, doc="the user's id, no foreign key: kept when they go")
    action: Mapped[str] = mapped_column(String(48), doc="sign_in, sign_in.failed, customer.erased, ...")
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(64))


class ScheduledRun(Base):
    """One run of a periodic task (retention, daily): the worker whose insert takes the row runs it."""

    __tablename__ = "scheduled_runs"

    task: Mapped[str] = mapped_column(String(48), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True, doc="e.g. the UTC day, 2025-05-31")
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column()
