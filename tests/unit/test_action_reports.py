"""The custom actions' reports, run against a small fake knowledge base: the JSON they send is the stored shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.handoff import ActionRequestHuman
from actions.knowledge import ActionAnswerQuestion, ActionFeedback
from knowledge_base.search import Hit, SearchResult
from webhook.domain.turns import ActionReport

SHIPPING = Hit("shipping-times", "en", "Shipping times", "Two to four days.", 0.81234, "", "en")
COSTS = Hit("shipping-costs", "en", "Shipping costs", "Free over 50.", 0.79, "", "en")


@dataclass
class FakeKnowledgeBase:
    result: SearchResult

    def search(self, question: str, lang: str) -> SearchResult:
        return SearchResult(question, lang, self.result.decision, self.result.hits, self.result.elapsed_ms)

    def article(self, key: str, lang: str) -> Hit | None:
        return next((h for h in (SHIPPING, COSTS) if h.key == key), None)


@pytest.fixture
def answers() -> Iterator[FakeKnowledgeBase]:
    kb = FakeKnowledgeBase(SearchResult("", "en", "answer", [SHIPPING, COSTS], 12.3456))
    context.configure(context.ActionContext(kb, "http://support.example"))  # type: ignore[arg-type]
    yield kb
    context.configure(None)


def tracker(text: str, intent: str, slots: dict[str, Any] | None = None, entities: list[Any] | None = None) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": entities or [],
        "metadata": {"lang": "en"},
    }
    return Tracker("c1", {"language": "en", **(slots or {})}, message, [], False, None, {}, None)


async def custom(action: Any, state: Tracker) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, state, {})
    return [m["custom"] for m in dispatcher.messages if m.get("custom")]


async def test_an_answer_reports_the_search_with_the_article_answered(answers: FakeKnowledgeBase) -> None:
    [sent] = await custom(ActionAnswerQuestion(), tracker("how long does shipping take", "ask_question"))
    assert json.dumps(sent) == json.dumps(
        {
            "kb": {
                "query": "how long does shipping take",
                "decision": "answer",
                "candidates": [
                    {"key": "shipping-times", "lang": "en", "title": "Shipping times", "score": 0.8123},
                    {"key": "shipping-costs", "lang": "en", "title": "Shipping costs", "score": 0.79},
                ],
                "elapsed_ms": 12.35,
                "answered": "shipping-times",
            }
        }
    )


@pytest.mark.parametrize("decision", ["clarify", "decline"])
async def test_a_clarification_or_a_decline_reports_the_search(answers: FakeKnowledgeBase, decision: str) -> None:
    answers.result = SearchResult("", "en", decision, [SHIPPING, COSTS], 1.0)  # type: ignore[arg-type]
    [sent] = await custom(ActionAnswerQuestion(), tracker("shipping", "ask_question"))
    assert list(sent["kb"]) == ["query", "decision", "candidates", "elapsed_ms"]
    assert sent["kb"]["decision"] == decision and ActionReport.read(sent).to_json() == sent


async def test_a_picked_article_reports_what_was_chosen(answers: FakeKnowledgeBase) -> None:
    entities = [{"entity": "article_id", "value": "shipping-costs"}]
    [sent] = await custom(ActionAnswerQuestion(), tracker("/ask_question", "ask_question", entities=entities))
    assert json.dumps(sent) == json.dumps(
        {
            "kb": {
                "query": None,
                "decision": "answer",
                "chosen": "shipping-costs",
                "candidates": [{"key": "shipping-costs", "lang": "en", "title": "Shipping costs", "score": 1.0}],
                "answered": "shipping-costs",
            }
        }
    )


@pytest.mark.parametrize("intent, helpful", [("affirm", True), ("deny", False)])
async def test_feedback_on_an_answer(answers: FakeKnowledgeBase, intent: str, helpful: bool) -> None:
    slots = {"last_decision": "answer", "last_article": "shipping-times"}
    sent = await custom(ActionFeedback(), tracker("yes", intent, slots))
    assert sent == [{"feedback": {"article": "shipping-times", "helpful": helpful}}]


async def test_asking_for_a_person_reports_a_handoff_request(answers: FakeKnowledgeBase) -> None:
    slots = {"last_decision": "decline", "last_article": None}
    asked = await custom(ActionRequestHuman(), tracker("a person please", "request_human", slots))
    assert json.dumps(asked) == json.dumps(
        [{"handoff": {"reason": "customer_request", "after": "decline", "article": None}}]
    )
    # "yes" to the bot's offer of a person goes through the same action
    offered = await custom(ActionFeedback(), tracker("yes", "affirm", slots))
    assert offered == [{"handoff": {"reason": "bot_offer", "after": "decline", "article": None}}]
