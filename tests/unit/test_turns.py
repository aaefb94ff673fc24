"""The typed turn records (webhook/domain/turns.py): the shapes stored, read and written back unchanged."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from webhook.domain.enums import Channel
from webhook.domain.turns import (
    ActionReport,
    BotTurn,
    Candidate,
    CustomerRecord,
    Feedback,
    HandoffRequest,
    SearchRecord,
    ServiceRecord,
    TurnRecord,
    reports,
)

CANDIDATES = [
    {"key": "shipping-times", "lang": "en", "title": "Shipping times", "score": 0.8123},
    {"key": "shipping-costs", "lang": "fa", "title": "هزینهٔ ارسال", "score": 0.7},
]

# Every shape the actions emit (actions/knowledge.py, actions/handoff.py), as stored today.
ACTION_SHAPES: list[dict[str, Any]] = [
    {
        "kb": {
            "query": "how long?",
            "decision": "answer",
            "candidates": CANDIDATES,
            "elapsed_ms": 12.35,
            "answered": "shipping-times",
        }
    },
    {"kb": {"query": "shipping", "decision": "clarify", "candidates": CANDIDATES, "elapsed_ms": 3.5}},
    {"kb": {"query": "capital of France?", "decision": "decline", "candidates": [], "elapsed_ms": 1.0}},
    {
        "kb": {
            "query": None,
            "decision": "answer",
            "chosen": "shipping-times",
            "candidates": CANDIDATES[:1],
            "answered": "shipping-times",
        }
    },
    {
        "kb": {
            "query": "is it free?",
            "decision": "answer",
            "candidates": CANDIDATES,
            "elapsed_ms": 9.0,
            "context": "how much is shipping?",
            "answered": "shipping-costs",
        }
    },
    {"feedback": {"article": "shipping-times", "helpful": True}},
    {"feedback": {"article": None, "helpful": False}},
    {"handoff": {"reason": "customer_request", "after": "decline", "article": None}},
    {"handoff": {"reason": "bot_offer", "after": "offered_human", "article": "shipping-times"}},
]


@pytest.mark.parametrize("shape", ACTION_SHAPES)
def test_each_action_shape_reads_and_writes_back_byte_for_byte(shape: dict[str, Any]) -> None:
    report = ActionReport.read(shape)
    assert json.dumps(report.to_json(), ensure_ascii=False) == json.dumps(shape, ensure_ascii=False)
    assert TurnRecord.read(shape).to_json() == shape


def test_the_typed_records_build_the_shapes_the_actions_send() -> None:
    candidates = tuple(Candidate(c["key"], c["lang"], c["title"], c["score"]) for c in CANDIDATES)
    search = SearchRecord(query="how long?", decision="answer", candidates=candidates, elapsed_ms=12.35)
    answered = ActionReport(kb=replace(search, answered="shipping-times")).to_json()
    assert json.dumps(answered, ensure_ascii=False) == json.dumps(ACTION_SHAPES[0], ensure_ascii=False)
    request = HandoffRequest("bot_offer", after="offered_human", article="shipping-times")
    assert ActionReport(handoff=request).to_json() == ACTION_SHAPES[-1]
    assert ActionReport(feedback=Feedback("shipping-times", True)).to_json() == ACTION_SHAPES[5]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"kb": "decline"},
        {"kb": {"decision": "maybe", "query": "x"}},
        {"kb": ["answer"]},
        {"feedback": {"article": "a", "helpful": "yes"}},
        {"feedback": "helpful"},
        {"handoff": 3},
    ],
)
def test_unknown_shapes_read_as_absent(payload: dict[str, Any] | None) -> None:
    report = ActionReport.read(payload)
    assert (report.kb, report.handoff, report.feedback) == (None, None, None)
    assert report.to_json() == {}


def test_a_candidate_without_a_key_is_left_out_and_a_missing_score_reads_as_zero() -> None:
    kb = SearchRecord.from_json(
        {"query": "q", "decision": "clarify", "candidates": [{"title": "no key"}, {"key": "k", "score": "high"}]}
    )
    assert kb is not None and kb.candidates == (Candidate("k", "", "", 0.0),)


def test_what_a_search_was_about() -> None:
    answered = ActionReport.read(ACTION_SHAPES[0]).kb
    clarified = ActionReport.read(ACTION_SHAPES[1]).kb
    declined = ActionReport.read(ACTION_SHAPES[2]).kb
    assert answered is not None and answered.topics == {"shipping-times"}
    assert clarified is not None and clarified.topics == {"shipping-times", "shipping-costs"}
    assert declined is not None and declined.topics == set()
    assert clarified.lang_of("shipping-costs") == "fa" and clarified.lang_of("other") is None
    assert clarified.title_of("shipping-times") == "Shipping times"


# The service's own records and what is kept with a customer's message, as stored today.
SERVICE_SHAPES: list[dict[str, Any]] = [
    {"handoff_notice": "repeated_decline", "ticket": False},
    {"handoff_notice": "customer_request", "ticket": True},
    {"released": "sara"},
    {"resolved": "bot"},
    {"resolved": "agent"},
    {"csat": "reply"},
    {"linked": "telegram"},
    {"command": "/help"},
    {"frustration": {"score": 0.9, "signals": ["caps"], "explanation": "shouting"}},
    {"attachment_reply": True},
    {"error": "no_reply"},
]


@pytest.mark.parametrize("shape", SERVICE_SHAPES)
def test_each_service_record_reads_and_writes_back(shape: dict[str, Any]) -> None:
    assert json.dumps(ServiceRecord.read(shape).to_json()) == json.dumps(shape)


@pytest.mark.parametrize(
    "shape",
    [
        {"button": "/affirm"},
        {"edited": 41, "button": "/deny"},
        {"attachment": {"kind": "photo", "file_id": "x"}},
        {"csat": "csat:4"},
        {"csat": "comment"},
        {"edited": 7},
    ],
)
def test_each_customer_record_reads_and_writes_back(shape: dict[str, Any]) -> None:
    assert json.dumps(CustomerRecord.read(shape).to_json()) == json.dumps(shape)


def test_a_bot_turn_without_replies_keeps_the_report_and_the_error() -> None:
    record = TurnRecord(report=ActionReport.read(ACTION_SHAPES[2]), service=ServiceRecord(error="no_reply"))
    assert list(record.to_json()) == ["kb", "error"]
    assert TurnRecord.read(record.to_json()) == record


def test_handoff_notices_and_releases_start_a_stretch_with_the_bot() -> None:
    starts = [ActionReport.read(s).starts_bot_stretch for s in SERVICE_SHAPES]
    assert starts == [True, True, True] + [False] * (len(SERVICE_SHAPES) - 3)
    assert not ActionReport.read(ACTION_SHAPES[0]).starts_bot_stretch


def test_a_report_equals_its_stored_form_whatever_else_the_payload_holds() -> None:
    report = ActionReport.read(ACTION_SHAPES[5])
    assert ActionReport.read({**ACTION_SHAPES[5], "error": "no_reply"}) == report
    assert reports([None, {}, ACTION_SHAPES[5], {"button": "/affirm"}]) == [report, ActionReport()]


def test_a_bot_turn_carries_the_report_and_the_history() -> None:
    history = tuple(reports(ACTION_SHAPES[:2]))
    turn = BotTurn("c1", "u1", Channel.WEB, "en", history[-1], history)
    assert turn.history[-1] == turn.report
