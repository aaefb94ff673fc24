"""The domain's enumerations, stored as their string values (identical on SQLite and PostgreSQL)."""

from __future__ import annotations

import enum


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING_FOR_AGENT = "waiting_for_agent"
    WITH_AGENT = "with_agent"
    RESOLVED = "resolved"


class Sender(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Channel(enum.StrEnum):
    WEB = "web"
    TELEGRAM = "telegram"


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"  # the latest version is not live (an older one may be)
    PUBLISHED = "published"  # the latest version is live
    ARCHIVED = "archived"  # nothing is live


class Role(enum.StrEnum):
    """What a console user may do: agents answer customers, editors also edit the help centre."""

    AGENT = "agent"
    EDITOR = "editor"
    ADMIN = "admin"


class DeflectionStatus(enum.StrEnum):
    ASSUMED = "assumed"  # the bot answered; nobody complained (yet)
    CONFIRMED = "confirmed"  # the customer said it helped
    REVERTED = "reverted"  # a handoff, a "didn't help", or a recontact on the same topic


class SuggestionStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for an editor
    ACCEPTED = "accepted"  # added to the article's alternative questions
    DISMISSED = "dismissed"  # an editor said no; more evidence does not bring it back
