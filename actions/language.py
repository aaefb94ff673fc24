"""The customer's language, as every action reads it."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.context import customer_text
from knowledge_base.text import LANGUAGES, detect_language


def customer_language(tracker: Tracker) -> str:
    """The language the conversation service detected, else the slot, else a guess."""
    metadata = tracker.latest_message.get("metadata") or {}
    lang = metadata.get("lang") or tracker.get_slot("language")
    if lang in LANGUAGES:
        return str(lang)
    return detect_language(customer_text(tracker), default="en") or "en"
