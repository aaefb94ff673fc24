"""How the conversation service behaves, as one typed settings record (``webhook/app.py`` builds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from webhook.domain.handoff import HandoffRules


@dataclass(frozen=True)
class ConversationPolicy:
    """The conversation service's settings: message limits, languages, handoff rules, CSAT, link codes."""

    max_chars: int = 4000  # the longest customer message accepted
    default_language: str = "en"  # when neither the text nor the customer says otherwise
    rules: HandoffRules = field(default_factory=HandoffRules)
    csat_enabled: bool = True  # ask for a rating when a conversation is resolved
    csat_questions: Mapping[str, str] = field(default_factory=dict)  # per language; empty: the built-in one
    link_ttl_s: int = 600  # how long a cross-channel link code is valid
