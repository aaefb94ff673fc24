"""One customer, one conversation, across the website and Telegram (the running product)."""

from __future__ import annotations

import json
import uuid

import httpx
from websockets.sync.client import connect

from tests.stack.test_telegram import new_user, post, wait_reply
from tests.stack.test_websocket import hello
from webhook.domain.identity import session_key


def history(stack, session: str) -> dict:
    response = httpx.get(f"{stack.base_url}/api/chat/history", params={"session": session}, timeout=30)
    response.raise_for_status()
    return response.json()


def telegram_link(stack, session: str) -> dict:
    response = httpx.post(f"{stack.base_url}/api/chat/telegram-link", json={"session": session}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_web_to_telegram_keeps_the_conversation_and_its_context(stack):
    fake, session, user = stack.telegram, uuid.uuid4().hex, new_user()
    web = stack.chat(session, "How do I return an item?", lang="en").json()
    assert web["replies"][0]["text"].startswith("How do I return an item?")

    link = telegram_link(stack, session)
    assert link["url"] == f"https://t.me/{fake.username}?start={link['code']}"
    since = fake.mark()
    post(stack, fake.text_update(user, f"/start {link['code']}"))
    welcome = wait_reply(fake, user, since, "Welcome back")
    assert "You were asking about “How do I return an item?”" in welcome.params["text"]

    # a follow-up that only makes sense with what was asked on the website
    since = fake.mark()
    post(stack, fake.text_update(user, "Is it free?"))
    answer = wait_reply(fake, user, since).params["text"]
    assert answer.startswith("How do I return an item?") and "Returns are free" in answer

    # the same words from someone without that context are about something else
    stranger = new_user()
    since = fake.mark()
    post(stack, fake.text_update(stranger, "Is it free?"))
    assert not wait_reply(fake, stranger, since).params["text"].startswith("How do I return an item?")

    # one conversation, both channels, in order
    transcript = history(stack, session)
    assert transcript["conversation_id"] == web["conversation_id"]
    turns = [(m["sender"], m["channel"], m["text"][:40]) for m in transcript["messages"]]
    assert turns[0] == ("customer", "web", "How do I return an item?")
    assert ("customer", "telegram", "Is it free?") in turns
    assert [m["id"] for m in transcript["messages"]] == sorted(m["id"] for m in transcript["messages"])
    assert {channel for _, channel, _ in turns} == {"web", "telegram"}
    # the Rasa tracker is the conversation's, whichever channel spoke
    events = stack.tracker(web["conversation_id"])["events"]
    said = [e["text"] for e in events if e["event"] == "user"]
    assert said[0] == "How do I return an item?" and said[-1] == "Is it free?"

    # a link code works once: someone else presenting it is not joined to this customer
    since, third = fake.mark(), new_user()
    post(stack, fake.text_update(third, f"/start {link['code']}"))
    wait_reply(fake, third, since, "no longer valid")
    owners = stack.query(
        "SELECT count(DISTINCT customer_id) FROM channel_identities WHERE external_id IN (?, ?)",
        session_key(session),
        str(third),
    )
    assert owners == [(2,)]


def test_telegram_to_web_with_a_one_time_link(stack):
    fake, user, session = stack.telegram, new_user(), uuid.uuid4().hex
    since = fake.mark()
    post(stack, fake.text_update(user, "I want to change my delivery address"))
    wait_reply(fake, user, since)
    since = fake.mark()
    post(stack, fake.text_update(user, "/web"))
    text = wait_reply(fake, user, since, "larkspur_link=").params["text"]
    url = next(word for word in text.split() if "larkspur_link=" in word)
    assert url.startswith(f"{stack.base_url}/?larkspur_link=")
    code = url.split("larkspur_link=", 1)[1]

    with connect(stack.ws_url) as ws:
        ready = hello(ws, session, link=code)
    assert ready["type"] == "ready"
    texts = [(m["channel"], m["text"]) for m in ready["messages"]]
    assert texts[0] == ("telegram", "I want to change my delivery address")
    assert texts[-1][0] == "web" and texts[-1][1].startswith("Welcome back")

    # used once: a second browser presenting the same code is told so, and gets nothing
    with connect(stack.ws_url) as ws:
        ws.send(json.dumps({"type": "hello", "session": uuid.uuid4().hex, "link": code}))
        first = json.loads(ws.recv(timeout=30))
        assert first["type"] == "error" and first["error"] == "invalid_link"
        assert json.loads(ws.recv(timeout=30))["messages"] == []
