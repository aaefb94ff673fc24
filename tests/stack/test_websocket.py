"""The widget's WebSocket against the running product: acks, idempotent resends, live fan-out, identity."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from webhook.domain import identity

Frame = dict[str, Any]


def session() -> str:
    return uuid.uuid4().hex


def hello(ws: ClientConnection, token: str, **extra: Any) -> Frame:
    ws.send(json.dumps({"type": "hello", "session": token, "lang": "en", **extra}))
    return receive(ws, lambda f: f["type"] in ("ready", "error"))[-1]


def receive(ws: ClientConnection, until: Callable[[Frame], bool], timeout: float = 90) -> list[Frame]:
    """Frames up to and including the first one ``until`` accepts."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching frame; got {frames}")
        frame = json.loads(ws.recv(timeout=remaining))
        frames.append(frame)
        if until(frame):
            return frames


def bot_message(frame: Frame) -> bool:
    return frame["type"] == "message" and frame["message"]["sender"] == "bot"


def csat_question(frame: Frame) -> bool:
    if not bot_message(frame):
        return False
    return any(str(b.get("payload", "")).startswith("csat:") for b in frame["message"].get("buttons") or [])


def test_a_message_is_acknowledged_once_stored_then_answered(stack):
    token = session()
    with connect(stack.ws_url) as ws:
        ready = hello(ws, token)
        assert ready["type"] == "ready" and ready["conversation_id"] is None and ready["messages"] == []
        assert ready["features"] == {"telegram": True}
        ws.send(json.dumps({"type": "message", "client_message_id": "m-1", "text": "How do I return an item?"}))
        frames = receive(ws, bot_message)
    kinds = [f["type"] for f in frames]
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack["client_message_id"] == "m-1" and ack["duplicate"] is False
    assert kinds.index("ack") < len(kinds) - 1  # acknowledged before the answer came
    assert {"type": "typing", "on": True} in frames
    answer = frames[-1]["message"]
    assert answer["text"].startswith("How do I return an item?")
    assert [b["title"] for b in answer["buttons"]] == ["Yes, thanks", "No"]
    own = [f["message"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "customer"]
    assert own and own[0]["client_message_id"] == "m-1" and own[0]["id"] == ack["message_id"]


def test_a_resent_client_message_id_is_stored_and_answered_once(stack):
    token = session()
    text = "how much does shipping cost?"
    with connect(stack.ws_url) as ws:
        hello(ws, token)
        ws.send(json.dumps({"type": "message", "client_message_id": "same-id", "text": text}))
        first = receive(ws, bot_message)
    first_ack = next(f for f in first if f["type"] == "ack")
    # the widget reconnects (say, the network dropped before it saw the ack) and resends
    with connect(stack.ws_url) as ws:
        ready = hello(ws, token, after=first_ack["message_id"])
        ws.send(json.dumps({"type": "message", "client_message_id": "same-id", "text": text}))
        again = receive(ws, lambda f: f["type"] == "ack")[-1]
        assert again == {**first_ack, "duplicate": True}
        ws.send(json.dumps({"type": "ping"}))
        later = receive(ws, lambda f: f["type"] == "pong")
    assert not [f for f in later if f["type"] == "message"], "the resend must not produce a second answer"
    stored = stack.query(
        "SELECT count(*) FROM messages WHERE conversation_id = ? AND sender = 'customer'", ready["conversation_id"]
    )
    assert stored == [(1,)]
    answers = stack.query(
        "SELECT count(*) FROM messages WHERE conversation_id = ? AND sender = 'bot'", ready["conversation_id"]
    )
    assert answers == [(1,)]


def test_history_is_restored_and_a_second_tab_sees_messages_live(stack):
    token = session()
    with connect(stack.ws_url) as tab_a, connect(stack.ws_url) as tab_b:
        hello(tab_a, token)
        tab_a.send(json.dumps({"type": "message", "client_message_id": "a-1", "text": "where is my order?"}))
        receive(tab_a, bot_message)
        # tab B opened before the conversation existed; it still receives it as it happens
        ready_b = hello(tab_b, token)
        assert [m["sender"] for m in ready_b["messages"]] == ["customer", "bot"]
        tab_a.send(
            json.dumps({"type": "message", "client_message_id": "a-2", "text": "Yes, thanks", "payload": "/affirm"})
        )
        live = receive(tab_b, bot_message)
        # the confirmed answer resolves the conversation, and its rating question follows in the
        # same turn: wait for it, so that the reload below sees the whole turn, not part of it
        survey = receive(tab_b, csat_question)
    texts = [f["message"]["text"] for f in live if f["type"] == "message"]
    assert texts[0] == "Yes, thanks" and "Glad I could help" in texts[-1]
    # a reload asks for everything after the last message it has
    with connect(stack.ws_url) as ws:
        ready = hello(ws, token, after=ready_b["messages"][0]["id"])
    question = survey[-1]["message"]["text"]
    assert [m["text"] for m in ready["messages"]][1:] == ["Yes, thanks", texts[-1], question]


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "bad_frame"),
        (json.dumps(["a", "list"]), "bad_frame"),
        (json.dumps({"type": "shout"}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi"}), "bad_frame"),  # no client_message_id
        (json.dumps({"type": "message", "client_message_id": "x", "text": "   "}), "invalid_message"),
        (json.dumps({"type": "message", "client_message_id": "x", "text": "y" * 4001}), "invalid_message"),
    ],
)
def test_bad_frames_get_a_clear_error_and_the_socket_stays_usable(stack, frame, error):
    token = session()
    with connect(stack.ws_url) as ws:
        hello(ws, token)
        ws.send(frame)
        reply = receive(ws, lambda f: f["type"] == "error")[-1]
        assert reply["error"] == error and reply["detail"]
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws, lambda f: f["type"] == "pong")
    # nothing was stored for the rejected frame (no message, not even a customer record)
    key = identity.session_key(token)
    assert stack.query("SELECT count(*) FROM channel_identities WHERE external_id = ?", key) == [(0,)]


def test_a_socket_that_never_says_hello_is_closed(stack):
    with connect(stack.ws_url) as ws:
        ws.send(json.dumps({"type": "message", "client_message_id": "x", "text": "hi"}))
        error = json.loads(ws.recv(timeout=15))
        assert error["type"] == "error" and error["error"] == "bad_frame"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


def test_verified_sessions_of_one_user_share_a_conversation(stack):
    user = {"id": f"u-{uuid.uuid4().hex[:8]}", "name": "Sara"}
    user["signature"] = identity.sign(stack.identity_secret, user["id"])
    laptop, phone = session(), session()
    with connect(stack.ws_url) as ws:
        hello(ws, laptop, user=user)
        ws.send(json.dumps({"type": "message", "client_message_id": "l-1", "text": "How do I reset my password?"}))
        receive(ws, bot_message)
    with connect(stack.ws_url) as ws:
        ready = hello(ws, phone, user=user)
    assert ready["type"] == "ready"
    assert ready["messages"][0]["text"] == "How do I reset my password?"
    owners = stack.query(
        "SELECT count(DISTINCT customer_id) FROM channel_identities WHERE external_id IN (?, ?, ?)",
        identity.session_key(laptop),
        identity.session_key(phone),
        f"user:{user['id']}",
    )
    assert owners == [(1,)]


def test_an_invalid_signature_is_refused_and_never_merged(stack):
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    owner, intruder = session(), session()
    good = {"id": user_id, "signature": identity.sign(stack.identity_secret, user_id)}
    with connect(stack.ws_url) as ws:
        hello(ws, owner, user=good)
        ws.send(json.dumps({"type": "message", "client_message_id": "o-1", "text": "my package never arrived"}))
        receive(ws, bot_message)
    forged = {"id": user_id, "signature": identity.sign("a guessed secret", user_id)}
    with connect(stack.ws_url) as ws:
        error = hello(ws, intruder, user=forged)
        assert error["type"] == "error" and error["error"] == "invalid_identity"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # the intruder's session is not joined to the user, and sees nothing of theirs
    intruder_key = identity.session_key(intruder)
    assert stack.query("SELECT count(*) FROM channel_identities WHERE external_id = ?", intruder_key) == [(0,)]
    with connect(stack.ws_url) as ws:
        assert hello(ws, intruder)["messages"] == []


def test_after_a_resolved_conversation_the_next_question_is_answered_on_the_same_socket(stack):
    token = session()
    with connect(stack.ws_url) as ws:
        hello(ws, token)
        ws.send(json.dumps({"type": "message", "client_message_id": "r-1", "text": "How do I reset my password?"}))
        receive(ws, bot_message)
        ws.send(
            json.dumps({"type": "message", "client_message_id": "r-2", "text": "Yes, thanks", "payload": "/affirm"})
        )
        csat = receive(ws, lambda f: bot_message(f) and f["message"]["text"].startswith("How satisfied"))[-1]
        # the conversation is resolved; a new question opens a new one, followed by this same socket
        ws.send(json.dumps({"type": "message", "client_message_id": "r-3", "text": "do you ship to Canada?"}))
        frames = receive(ws, bot_message)
    ack = next(f for f in frames if f["type"] == "ack")
    assert frames[-1]["message"]["conversation_id"] != csat["message"]["conversation_id"]
    assert (
        frames[-1]["message"]["conversation_id"]
        == stack.query("SELECT conversation_id FROM messages WHERE id = ?", ack["message_id"])[0][0]
    )
