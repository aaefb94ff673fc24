"""What passes between a channel and the conversation service: a customer message in, the bot's replies out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from webhook.domain.enums import Channel


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalised by its channel."""

    channel: Channel
    external_id: str  # the customer on that channel: web session token, Telegram user id
    text: str  # what the customer wrote, or the label of the button they pressed
    payload: str | None = None  # a button's payload for Rasa (e.g. "/affirm"); defaults to text
    client_message_id: str | None = None  # for idempotent resends
    language: str | None = None  # the channel's UI language, a hint when the text has no letters
    display_name: str | None = None  # the customer's name, where the channel tells it
    attachment: dict[str, Any] | None = None  # a file the bot cannot read: stored for an agent, not answered
    external_message_id: str | None = None  # the channel's id for this message (a Telegram message id)
    extra: dict[str, Any] | None = None  # kept with the message (e.g. that it corrects an earlier one)


@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    conversation_id: str
    message_id: int
    language: str
    replies: list[BotReply]
    duplicate: bool = False


@dataclass(frozen=True)
class Stored:
    """A customer message is safely stored: the moment a channel may acknowledge it."""

    conversation_id: str
    message_id: int
    duplicate: bool


OnStored = Callable[[Stored], Awaitable[None]]


# A channel answering a message itself (a command such as Telegram's /help), given the language.
LocalAnswer = Callable[[str], Awaitable[list[BotReply]]]
