"""Fill slots that no NLU entity carries, on every turn, before the next action is chosen."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from knowledge_base.text import LANGUAGES


class ValidateSlotMappings(ValidationAction):
    """Rasa calls ``action_validate_slot_mappings`` after each user message.

    The web service detects the customer's language and sends it in the
    message metadata; copying it into the ``language`` slot here makes the
    domain's conditional responses (greetings, goodbyes) answer in that language.
    """

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        lang = (tracker.latest_message.get("metadata") or {}).get("lang")
        if lang in LANGUAGES and lang != tracker.get_slot("language"):
            return {"language": lang}
        return {}
