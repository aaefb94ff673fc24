"""The customer asks for a person: the action that records it (its rule is in ``data/handoff.yml``).

The handoff itself (the queue, the notice, pausing the bot) is the conversation
service's, which reads the request this action reports
(:class:`webhook.domain.turns.HandoffRequest`).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import customer_language
from actions.messages import say
from webhook.domain.turns import ActionReport, HandoffRequest


class ActionRequestHuman(Action):
    """Record that the customer wants a person (the handoff itself is the agent console's job)."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = customer_language(tracker)
        last = tracker.get_slot("last_decision")
        article = tracker.get_slot("last_article")
        reason = "customer_request" if tracker.get_intent_of_latest_message() == "request_human" else "bot_offer"
        dispatcher.utter_message(text=say("passed_to_team", lang))
        request = HandoffRequest(reason=reason, after=_text(last), article=_text(article))
        dispatcher.utter_message(json_message=ActionReport(handoff=request).to_json())
        return [SlotSet("last_decision", None)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
