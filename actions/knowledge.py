"""Actions that answer from the help centre and take feedback on the answers.

Besides what the customer sees, each action sends a ``custom`` JSON message
that the conversation service reads and stores: the search decision with its
scores, or the customer's feedback on an answer. Both are built from the typed
records of :mod:`webhook.domain.turns` (an :class:`ActionReport`), the contract
the service reads them through. Channels never show these.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.handoff import ActionRequestHuman
from actions.language import customer_language
from actions.messages import LANGUAGE_NAMES, say
from knowledge_base.search import Hit, SearchResult
from knowledge_base.text import refers_back
from webhook.domain.turns import ActionReport, Candidate, Feedback, SearchRecord

FOLLOW_UP_WINDOW = 3  # a follow-up may lean on a question at most this many customer turns back


def previous_question(tracker: Tracker) -> str | None:
    """The customer's last question before this message, on whichever channel they asked it.

    The tracker is keyed by the conversation, not the channel, so a question asked
    on the website is here when the follow-up comes from Telegram.
    """
    turns = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        turns += 1
        if turns == 1:
            continue  # this message
        if turns > FOLLOW_UP_WINDOW + 1:
            return None
        text = context.clipped(event.get("text"))
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if text and not text.startswith("/") and intent in ("ask_question", "nlu_fallback"):
            return text
    return None


def _candidate(hit: Hit) -> Candidate:
    return Candidate(hit.key, hit.lang, hit.title, round(hit.score, 4))


def _search_record(result: SearchResult) -> SearchRecord:
    return SearchRecord(
        query=result.query,
        decision=result.decision,
        candidates=tuple(_candidate(h) for h in result.hits),
        elapsed_ms=round(result.elapsed_ms, 2),
    )


def _report(record: SearchRecord) -> dict[str, Any]:
    """The custom JSON message that reports a search decision."""
    return ActionReport(kb=record).to_json()


class ActionAnswerQuestion(Action):
    """Answer a question from the knowledge base: answer, suggest, or decline."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        ctx = context.current()
        lang = customer_language(tracker)
        chosen = next(tracker.get_latest_entity_values("article_id"), None)
        if chosen:  # the customer pressed one of the suggested articles
            article = ctx.knowledge_base.article(str(chosen), lang)
            if article is not None:
                hit = Hit(article.key, article.lang, article.title, article.body, 1.0, article.title, article.lang)
                record = SearchRecord(query=None, decision="answer", chosen=article.key, candidates=(_candidate(hit),))
                return self._answer(dispatcher, ctx, hit, lang, record)

        question = context.customer_text(tracker)
        result = await asyncio.to_thread(ctx.knowledge_base.search, question, lang)
        record = _search_record(result)
        earlier = previous_question(tracker) if refers_back(question, lang) else None
        if earlier:
            # "Is it free?" after "How do I return an item?": read the two together, and keep
            # that reading only if it answers more confidently than the question alone.
            joined = await asyncio.to_thread(ctx.knowledge_base.search, f"{earlier} {question}", lang)
            alone = result.best.score if result.best is not None and result.decision == "answer" else 0.0
            if joined.decision == "answer" and joined.best is not None and joined.best.score > alone:
                result = joined
                record = replace(_search_record(joined), query=question, context=earlier)
        best = result.best
        if result.decision == "answer" and best is not None:
            return self._answer(dispatcher, ctx, best, lang, record)
        if result.decision == "clarify":
            buttons = [
                {"title": hit.title, "payload": f'/ask_question{{"article_id": "{hit.key}"}}'}
                for hit in result.hits[:3]
            ]
            buttons.append({"title": say("none_of_these", lang), "payload": "/deny"})
            dispatcher.utter_message(text=say("clarify", lang), buttons=buttons)
            dispatcher.utter_message(json_message=_report(record))
            return [SlotSet("last_decision", "clarify"), SlotSet("last_article", None)]
        dispatcher.utter_message(
            text=say("not_found", lang),
            buttons=[{"title": say("talk_to_person", lang), "payload": "/request_human"}],
        )
        dispatcher.utter_message(json_message=_report(record))
        return [SlotSet("last_decision", "decline"), SlotSet("last_article", None)]

    def _answer(
        self,
        dispatcher: CollectingDispatcher,
        ctx: context.ActionContext,
        hit: Hit,
        lang: str,
        record: SearchRecord,
    ) -> list[EventType]:
        parts = [hit.title, hit.body]
        if hit.lang != lang:
            parts.insert(0, say("other_language", lang, language=LANGUAGE_NAMES[hit.lang][lang]))
        parts.append(f"{say('read_more', lang)}: {ctx.article_link(hit.key, hit.lang)}")
        parts.append(say("did_it_help", lang))
        # One message: Rasa's REST channel splits button-less text at blank lines.
        dispatcher.utter_message(
            text="\n\n".join(parts),
            buttons=[
                {"title": say("yes", lang), "payload": "/affirm"},
                {"title": say("no", lang), "payload": "/deny"},
            ],
        )
        dispatcher.utter_message(json_message=_report(replace(record, answered=hit.key)))
        return [SlotSet("last_decision", "answer"), SlotSet("last_article", hit.key)]


class ActionFeedback(Action):
    """Yes/no from the customer, read against what the bot did last."""

    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = customer_language(tracker)
        positive = tracker.get_intent_of_latest_message() == "affirm"
        last = tracker.get_slot("last_decision")
        article = tracker.get_slot("last_article")
        reset = [SlotSet("last_decision", None)]
        if last == "answer":
            verdict = Feedback(article=None if article is None else str(article), helpful=positive)
            dispatcher.utter_message(json_message=ActionReport(feedback=verdict).to_json())
            if positive:
                dispatcher.utter_message(text=say("glad", lang))
                return reset
            dispatcher.utter_message(
                text=say("sorry_not_helpful", lang),
                buttons=[{"title": say("talk_to_person", lang), "payload": "/request_human"}],
            )
            return [SlotSet("last_decision", "offered_human")]
        if last in ("decline", "offered_human") and positive:
            return await ActionRequestHuman().run(dispatcher, tracker, domain)
        if last == "clarify" and positive:
            dispatcher.utter_message(text=say("pick_one", lang))
            return []
        if last in ("clarify", "decline", "offered_human"):
            dispatcher.utter_message(
                text=say("sorry_not_helpful", lang) if last == "clarify" else say("ask_again", lang),
                buttons=[{"title": say("talk_to_person", lang), "payload": "/request_human"}],
            )
            return [SlotSet("last_decision", "offered_human")]
        dispatcher.utter_message(text=say("how_can_i_help", lang))
        return reset
