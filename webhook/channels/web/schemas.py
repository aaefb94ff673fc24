"""The website channel's wire shapes: REST requests and responses, and the widget's WebSocket frames.

The WebSocket protocol is documented in ``docs/web-widget.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from webhook.domain.storable_text import StorableText
from webhook.domain.stored_numbers import MAX_STORED_INT

SESSION_PATTERN = "^[A-Za-z0-9_-]{8,200}$"


class Button(BaseModel):
    title: str
    payload: str


class Reply(BaseModel):
    text: str
    buttons: list[Button] = []


# Every text a customer sends is StorableText: a lone UTF-16 surrogate or a NUL is a 422 (an
# ``invalid_message`` frame on the socket), never a 500 when it reaches the database.
class ChatRequest(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN, description="The browser's chat session token")
    text: StorableText = Field(description="What the customer wrote, or the label of the button pressed")
    payload: StorableText | None = Field(None, max_length=500, description="A pressed button's payload")
    client_message_id: StorableText | None = Field(
        None, min_length=1, max_length=100, description="Makes a resend idempotent"
    )
    lang: str | None = Field(None, pattern="^(en|fa|ar)$", description="The widget's UI language")


class ChatResponse(BaseModel):
    conversation_id: str
    replies: list[Reply]


class HistoryMessage(BaseModel):
    id: int
    sender: str
    channel: str
    text: str
    buttons: list[Button]
    created_at: str


class HistoryResponse(BaseModel):
    conversation_id: str | None
    messages: list[HistoryMessage]


class LinkRequest(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN)


class LinkResponse(BaseModel):
    code: str
    url: str = Field(description="Opens the Telegram bot with this code: https://t.me/<bot>?start=<code>")
    expires_at: datetime


# -- WebSocket frames, client to server -----------------------------------------------
class SignedUser(BaseModel):
    id: StorableText = Field(min_length=1, max_length=150)
    signature: StorableText = Field(min_length=1, max_length=200)
    name: StorableText | None = Field(None, max_length=200)


class HelloFrame(BaseModel):
    type: Literal["hello"]
    session: str = Field(pattern=SESSION_PATTERN)
    lang: Literal["en", "fa", "ar"] | None = None
    after: int = Field(0, ge=0, le=MAX_STORED_INT)
    link: StorableText | None = Field(None, max_length=100)
    user: SignedUser | None = None


class MessageFrame(BaseModel):
    type: Literal["message"]
    client_message_id: StorableText = Field(min_length=1, max_length=100)
    text: StorableText
    payload: StorableText | None = Field(None, max_length=500)


# -- WebSocket frames, server to client -----------------------------------------------
class ReadyFrame(BaseModel):
    """The answer to ``hello``: the conversation so far (after ``after``) and what the widget may offer."""

    type: Literal["ready"] = "ready"
    conversation_id: str | None
    messages: list[dict[str, Any]]
    features: dict[str, bool]


class AckFrame(BaseModel):
    """A customer message is stored (``duplicate``: it had been, under this ``client_message_id``)."""

    type: Literal["ack"] = "ack"
    client_message_id: str
    message_id: int
    duplicate: bool


class ConversationMessageFrame(BaseModel):
    """One message of the conversation, whoever wrote it, as the store shows it to a customer."""

    type: Literal["message"] = "message"
    message: dict[str, Any]


class TypingFrame(BaseModel):
    type: Literal["typing"] = "typing"
    on: bool


class PongFrame(BaseModel):
    type: Literal["pong"] = "pong"


class ErrorFrame(BaseModel):
    """``error`` is a code (``bad_frame``, ``invalid_message``, ...); ``client_message_id`` names the message.

    ``rate_limited``: the message was not stored; send it again after ``retry_after`` seconds.
    """

    type: Literal["error"] = "error"
    error: str
    detail: str
    client_message_id: str | None = None
    retry_after: int | None = None


ServerFrame = ReadyFrame | AckFrame | ConversationMessageFrame | TypingFrame | PongFrame | ErrorFrame
