"""The Telegram channel of the running product, against the fake Bot API server.

The product runs in webhook mode (``stack``); updates are posted to it as
Telegram would, and what the bot sends is read from the fake server's record.
The polling mode and the outbox are tested in tests/service/test_telegram_delivery.py.
"""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from tests.fake_telegram import Call, FakeTelegram

_users = itertools.count(700_000_001)


def new_user() -> int:
    return next(_users)


def sent_to(chat_id: int):
    return lambda call: call.ok and call.params.get("chat_id") == chat_id


def wait_reply(fake: FakeTelegram, chat_id: int, since: int, contains: str = "", timeout: float = 90) -> Call:
    def matches(call: Call) -> bool:
        return sent_to(chat_id)(call) and contains in call.params.get("text", "")

    return fake.wait_for("sendMessage", matches, timeout=timeout, since=since)


def stored_messages(stack, user: int, sender: str = "customer") -> list[tuple]:
    """(text, payload, external_id) of the messages stored in this Telegram user's conversations."""
    return stack.query(
        "SELECT m.text, m.payload, m.external_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "JOIN channel_identities i ON i.customer_id = c.customer_id "
        "WHERE i.channel = 'telegram' AND i.external_id = ? AND m.sender = ? ORDER BY m.id",
        str(user),
        sender,
    )


def replies_since(fake: FakeTelegram, chat_id: int, since: int) -> list[Call]:
    return [c for c in fake.calls()[since:] if c.method == "sendMessage" and sent_to(chat_id)(c)]


def eventually(check, timeout: float = 30.0) -> None:
    """Wait for something the product does after its reply went out (e.g. queueing a handoff)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        time.sleep(0.2)


def post(stack, update: dict, secret: str | None = None) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret if secret is None else secret}
    return httpx.post(f"{stack.base_url}/telegram/webhook", json=update, headers=headers, timeout=30)


def test_the_bot_registered_its_webhook_with_the_secret(stack):
    fake = stack.telegram
    assert fake.webhook["url"] == f"{stack.base_url}/telegram/webhook"
    assert fake.webhook["secret_token"] == stack.webhook_secret
    assert set(fake.webhook["allowed_updates"]) >= {"message", "edited_message", "callback_query"}


def test_a_question_is_answered_with_an_inline_keyboard(stack):
    fake, user = stack.telegram, new_user()
    since = fake.mark()
    assert post(stack, fake.text_update(user, "How do I return an item?")).json() == {"ok": True, "duplicate": False}
    reply = wait_reply(fake, user, since, "How do I return an item?")
    assert reply.params["parse_mode"] == "HTML" and "<b>30 days</b>" in reply.params["text"]
    rows = reply.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in rows] == ["Yes, thanks", "No"]
    assert all(row[0]["callback_data"].startswith("b:") for row in rows)
    typing = fake.wait_for("sendChatAction", sent_to(user), since=since)
    assert typing.params["action"] == "typing" and typing.time < reply.time


def test_pressing_a_button_answers_the_query_removes_the_keyboard_and_replies(stack):
    fake, user = stack.telegram, new_user()
    since = fake.mark()
    post(stack, fake.text_update(user, "how long does express delivery take?"))
    answer = wait_reply(fake, user, since)
    keyboard = answer.params["reply_markup"]["inline_keyboard"]
    message_id = answer.result["message_id"]
    since = fake.mark()
    post(stack, fake.callback_update(user, keyboard[0][0]["callback_data"], message_id=message_id))
    fake.wait_for("answerCallbackQuery", lambda c: c.ok, since=since)
    fake.wait_for("editMessageReplyMarkup", lambda c: c.params.get("message_id") == message_id, since=since)
    assert "Glad I could help" in wait_reply(fake, user, since).params["text"]
    assert fake.message(user, message_id).get("reply_markup") in (None, {}, {"inline_keyboard": []})


def test_an_edited_message_is_answered_as_a_correction(stack):
    fake, user = stack.telegram, new_user()
    since = fake.mark()
    first = fake.text_update(user, "how do I retrun an itme")
    post(stack, first)
    wait_reply(fake, user, since)
    since = fake.mark()
    edited = fake.edited_update(user, "How do I reset my password?", message_id=first["message"]["message_id"])
    assert post(stack, edited).status_code == 200
    assert "password" in wait_reply(fake, user, since).params["text"].lower()
    rows = stored_messages(stack, user)
    assert [text for text, _, _ in rows] == ["how do I retrun an itme", "How do I reset my password?"]
    assert json.loads(rows[1][1]) == {"edited": first["message"]["message_id"]}
    assert rows[0][2] == rows[1][2] == str(first["message"]["message_id"])


def test_a_photo_is_stored_and_gets_a_polite_reply(stack):
    fake, user = stack.telegram, new_user()
    since = fake.mark()
    update = fake.photo_update(user, caption="the box arrived like this")
    post(stack, update)
    reply = wait_reply(fake, user, since, "photo")
    assert "only read text" in reply.params["text"]
    stored = stored_messages(stack, user)
    assert len(stored) == 1
    text, payload, _ = stored[0]
    attachment = json.loads(payload)["attachment"]
    assert text == "the box arrived like this"
    assert attachment["kind"] == "photo" and attachment["file_id"] == update["message"]["photo"][-1]["file_id"]


def test_a_duplicate_update_is_processed_once(stack):
    fake, user = stack.telegram, new_user()
    update = fake.text_update(user, "do you ship to Canada?")
    since = fake.mark()
    assert post(stack, update).json()["duplicate"] is False
    assert post(stack, update).json()["duplicate"] is True
    wait_reply(fake, user, since)
    time.sleep(2)  # give a wrongly repeated turn the time to show up
    assert len(replies_since(fake, user, since)) == 1
    stored = stack.query("SELECT count(*) FROM telegram_updates WHERE update_id = ?", update["update_id"])
    assert stored == [(1,)]
    assert len(stored_messages(stack, user)) == 1


@pytest.mark.parametrize("secret", ["", "wrong-secret"])
def test_a_wrong_secret_is_refused_and_nothing_is_stored(stack, secret):
    fake = stack.telegram
    update = fake.text_update(new_user(), "hello")
    response = post(stack, update, secret=secret)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert stack.query("SELECT count(*) FROM telegram_updates WHERE update_id = ?", update["update_id"]) == [(0,)]


def test_a_malformed_update_gets_a_clear_error(stack):
    response = post(stack, {"message": "no update id"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_update"


def test_commands_help_language_and_human(stack):
    fake, user = stack.telegram, new_user()
    since = fake.mark()
    post(stack, fake.text_update(user, "/help"))
    assert "/human" in wait_reply(fake, user, since, "/language").params["text"]

    since = fake.mark()
    post(stack, fake.text_update(user, "/language"))
    menu = wait_reply(fake, user, since, "language")
    buttons = {row[0]["text"]: row[0]["callback_data"] for row in menu.params["reply_markup"]["inline_keyboard"]}
    assert set(buttons) == {"English", "فارسی", "العربية"}
    message_id = menu.result["message_id"]
    since = fake.mark()
    post(stack, fake.callback_update(user, buttons["فارسی"], message_id=message_id))
    assert "فارسی" in wait_reply(fake, user, since).params["text"]

    since = fake.mark()
    post(stack, fake.text_update(user, "/human"))
    wait_reply(fake, user, since)
    eventually(
        lambda: (
            stack.query(
                "SELECT count(*) FROM handoff_requests h JOIN conversations c ON c.id = h.conversation_id "
                "JOIN channel_identities i ON i.customer_id = c.customer_id WHERE i.external_id = ?",
                str(user),
            )
            == [(1,)]
        )
    )
    status = stack.query(
        "SELECT c.status, c.language FROM conversations c JOIN channel_identities i ON i.customer_id = c.customer_id "
        "WHERE i.external_id = ?",
        str(user),
    )
    assert status == [("waiting_for_agent", "fa")]
    reasons = stack.query(
        "SELECT h.reason FROM handoff_requests h JOIN conversations c ON c.id = h.conversation_id "
        "JOIN channel_identities i ON i.customer_id = c.customer_id WHERE i.external_id = ?",
        str(user),
    )
    assert reasons == [("customer_request",)]


def test_group_chats_are_ignored_unless_the_bot_is_mentioned(stack):
    fake, user, group = stack.telegram, new_user(), -100_123_456
    since = fake.mark()
    post(stack, fake.group_text_update(group, user, "where is my order?"))
    post(stack, fake.group_text_update(group, user, "where is my order?", mention=True))
    reply = wait_reply(fake, group, since, "private")
    assert f"https://t.me/{fake.username}" in reply.params["text"]
    time.sleep(1)
    assert len(replies_since(fake, group, since)) == 1
    assert stack.query("SELECT count(*) FROM channel_identities WHERE external_id = ?", str(user)) == [(0,)]
