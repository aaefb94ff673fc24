"""When the bot steps aside, read off the typed turn records (webhook/domain/handoff.py)."""

from __future__ import annotations

from typing import Any

from webhook.domain.handoff import HandoffRules, rule_trigger, since_last_boundary
from webhook.domain.turns import reports

DECLINE = {"kb": {"query": "?", "decision": "decline", "candidates": []}}
ANSWER = {"kb": {"query": "?", "decision": "answer", "candidates": [], "answered": "a"}}
UNHELPFUL = {"feedback": {"article": "a", "helpful": False}}
BUTTON = {"button": "/deny"}
QUEUED = {"handoff_notice": "repeated_decline", "ticket": False}
RELEASED = {"released": "sara"}


def trigger(rules: HandoffRules, *payloads: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return rule_trigger(rules, reports(payloads))


def test_declines_in_a_row_hand_off_and_other_records_do_not_break_the_streak() -> None:
    assert trigger(HandoffRules(), DECLINE, BUTTON, DECLINE) == ("repeated_decline", {"declines": 2})
    assert trigger(HandoffRules(), DECLINE, ANSWER, DECLINE) is None
    assert trigger(HandoffRules(after_declines=3), DECLINE, DECLINE) is None


def test_answers_that_did_not_help_hand_off() -> None:
    assert trigger(HandoffRules(), ANSWER, UNHELPFUL, ANSWER, UNHELPFUL) == ("not_helpful", {"not_helpful": 2})


def test_a_switched_off_rule_never_fires() -> None:
    assert trigger(HandoffRules(0, 0, 0), DECLINE, DECLINE, UNHELPFUL, UNHELPFUL) is None


def test_counts_start_over_when_the_conversation_comes_back_to_the_bot() -> None:
    assert trigger(HandoffRules(), DECLINE, DECLINE, QUEUED, RELEASED, DECLINE) is None
    assert trigger(HandoffRules(), UNHELPFUL, RELEASED, UNHELPFUL) is None
    assert since_last_boundary(reports([DECLINE, QUEUED, ANSWER])) == reports([ANSWER])
