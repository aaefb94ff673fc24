"""A customer's turn through the app in process: ``POST /api/chat``, the real database, the fake Rasa.

The fake runs the real custom actions on the real knowledge base (tests/service/fake_rasa.py),
so what is checked here is the service around Rasa: what is stored and when, what Rasa is
sent, and what the actions' records make the service do.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.service.conftest import ChatApp, stored


def session() -> str:
    return uuid.uuid4().hex


def chat(app: ChatApp, session_id: str, text: str, **extra: Any) -> Any:
    return app.http.post("/api/chat", json={"session": session_id, "text": text, **extra})


def customer_messages(app: ChatApp, conversation_id: str) -> list[tuple[Any, ...]]:
    return stored(
        app.database_url,
        "SELECT text, client_message_id FROM messages WHERE conversation_id = :c AND sender = 'customer' ORDER BY id",
        c=conversation_id,
    )


def test_the_message_is_stored_before_rasa_is_asked(chat_app: ChatApp):
    seen: list[list[tuple[Any, ...]]] = []
    chat_app.rasa.on_message = lambda body: seen.append(customer_messages(chat_app, body["sender"]))
    try:
        response = chat(chat_app, session(), "How do I return an item?", lang="en")
    finally:
        chat_app.rasa.on_message = None
    assert response.status_code == 200, response.text
    body = response.json()
    assert seen == [[("How do I return an item?", None)]]  # stored, and committed, before the bot's turn
    assert chat_app.rasa.received[-1]["sender"] == body["conversation_id"]  # Rasa's sender is the conversation
    assert chat_app.rasa.received[-1]["metadata"]["lang"] == "en"
    answer = body["replies"][0]
    assert answer["text"].startswith("How do I return an item?")  # the real article, through the real action
    assert [b["payload"] for b in answer["buttons"]] == ["/affirm", "/deny"]
    bot = stored(
        chat_app.database_url,
        "SELECT text FROM messages WHERE conversation_id = :c AND sender = 'bot' ORDER BY id",
        c=body["conversation_id"],
    )
    assert [row[0] for row in bot] == [r["text"] for r in body["replies"]]


def test_a_repeated_client_message_id_is_stored_and_sent_to_rasa_once(chat_app: ChatApp):
    session_id, before = session(), len(chat_app.rasa.received)
    first = chat(chat_app, session_id, "how much is shipping?", client_message_id="c-1")
    again = chat(chat_app, session_id, "how much is shipping?", client_message_id="c-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # the same answer, not a second turn
    conversation_id = first.json()["conversation_id"]
    assert customer_messages(chat_app, conversation_id) == [("how much is shipping?", "c-1")]
    assert [m["message"] for m in chat_app.rasa.received[before:]] == ["how much is shipping?"]


def test_a_pressed_button_sends_its_payload_and_stores_its_label(chat_app: ChatApp):
    session_id = session()
    asked = chat(chat_app, session_id, "how long does express delivery take?").json()
    pressed = chat(chat_app, session_id, "Yes, thanks", payload="/affirm")
    assert pressed.status_code == 200, pressed.text
    assert chat_app.rasa.received[-1]["message"] == "/affirm"
    assert pressed.json()["replies"][0]["text"].startswith("Glad I could help")  # the tracker kept the answer
    assert customer_messages(chat_app, asked["conversation_id"])[-1] == ("Yes, thanks", None)
    [(status, resolved_by)] = stored(
        chat_app.database_url,
        "SELECT status, resolved_by FROM conversations WHERE id = :c",
        c=asked["conversation_id"],
    )
    assert (status, resolved_by) == ("resolved", "bot")  # the feedback record resolved it


def test_the_bots_handoff_record_queues_the_conversation(chat_app: ChatApp):
    response = chat(chat_app, session(), "Talk to a person", payload="/request_human")
    assert response.status_code == 200, response.text
    conversation_id = response.json()["conversation_id"]
    assert stored(chat_app.database_url, "SELECT status FROM conversations WHERE id = :c", c=conversation_id) == [
        ("waiting_for_agent",)
    ]
    reasons = stored(
        chat_app.database_url, "SELECT reason FROM handoff_requests WHERE conversation_id = :c", c=conversation_id
    )
    assert reasons == [("customer_request",)]
    assert chat_app.rasa.tracker(conversation_id)["paused"] is True  # the service paused Rasa's tracker
    replies = [r["text"] for r in response.json()["replies"]]
    assert len(replies) == 2 and replies[0].startswith("I've passed your conversation")


def test_rasa_down_is_a_503_and_the_message_is_kept(chat_app: ChatApp):
    session_id = session()
    chat_app.rasa.down = True
    try:
        response = chat(chat_app, session_id, "where is my order?", client_message_id="down-1")
        health = chat_app.http.get("/health").json()
    finally:
        chat_app.rasa.down = False
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "bot_unavailable"
    assert customer_messages(chat_app, body["conversation_id"]) == [("where is my order?", "down-1")]
    assert health["rasa"] is False
    history = chat_app.http.get("/api/chat/history", params={"session": session_id}).json()
    assert [(m["sender"], m["text"]) for m in history["messages"]] == [("customer", "where is my order?")]
    assert chat_app.http.get("/health").json()["rasa"] is True


@pytest.mark.parametrize("text", ["", "x" * 4001])
def test_a_rejected_message_never_reaches_rasa(chat_app: ChatApp, text: str):
    before = len(chat_app.rasa.received)
    response = chat(chat_app, session(), text)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_message"
    assert len(chat_app.rasa.received) == before
