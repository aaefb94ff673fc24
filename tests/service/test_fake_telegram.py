"""The fake Telegram server speaks the Bot API as python-telegram-bot 22.8 expects.

Every test drives the real ``telegram.Bot`` (or plain HTTP) against ``FakeTelegram``, so
the Telegram channel's tests can trust what the fake answers and records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from tests.fake_telegram import Call, FakeTelegram, Upload

USER = 4242


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data)] for text, data in pairs])


def seconds(value: int | float | dt.timedelta) -> float:
    """RetryAfter.retry_after is an int or a timedelta, depending on PTB's PTB_TIMEDELTA setting."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# -- methods ----------------------------------------------------------------------------
async def test_get_me(fake: FakeTelegram, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456, True, "larkspur_test_bot", "Larkspur Test Bot")
    assert me.can_join_groups is True
    assert bot.username == "larkspur_test_bot"  # Bot.initialize() called getMe too
    assert fake.wait_for("getMe").ok


async def test_send_message_records_decoded_markup_and_returns_a_message(fake: FakeTelegram, bot: telegram.Bot) -> None:
    markup = keyboard(("Yes", "fb:1:yes"), ("No", "fb:1:no"))
    sent = await bot.send_message(USER, "Did this answer help?", reply_markup=markup)
    assert sent.text == "Did this answer help?"
    assert (sent.chat.id, sent.chat.type, sent.chat.first_name) == (USER, "private", "Test")
    assert sent.from_user is not None and sent.from_user.id == fake.bot_id and sent.from_user.is_bot
    assert sent.reply_markup is not None
    assert [b.callback_data for row in sent.reply_markup.inline_keyboard for b in row] == ["fb:1:yes", "fb:1:no"]

    call = fake.calls("sendMessage")[0]
    assert call.params["chat_id"] == USER and call.ok
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "fb:1:yes"}],
            [{"text": "No", "callback_data": "fb:1:no"}],
        ]
    }

    second = await bot.send_message(USER, "Second")
    other = await bot.send_message(777, "Elsewhere")
    assert (sent.message_id, second.message_id, other.message_id) == (1, 2, 1)  # counted per chat
    assert second.reply_markup is None
    assert fake.sent_texts(USER) == ["Did this answer help?", "Second"]
    assert fake.sent_texts() == ["Did this answer help?", "Second", "Elsewhere"]


async def test_send_message_uses_the_chat_registry_and_passes_entities(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.add_chat(-100500, "supergroup", title="Support group")
    sent = await bot.send_message(-100500, "hi all", entities=[MessageEntity(MessageEntity.BOLD, 0, 2)])
    assert (sent.chat.type, sent.chat.title) == ("supergroup", "Support group")
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, 0, 2),)
    assert fake.calls("sendMessage")[0].params["entities"] == [{"type": "bold", "offset": 0, "length": 2}]


async def test_send_message_rejects_what_telegram_rejects(fake: FakeTelegram, bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=keyboard(("Yes", "y" * 65)))
    assert [c.error_code for c in fake.calls("sendMessage")] == [400, 400]
    assert fake.sent_texts() == []


async def test_send_message_parses_html_as_telegram_does(fake: FakeTelegram, bot: telegram.Bot) -> None:
    html = '<b>Reset</b> your <a href="https://x.example/r?a=1&amp;b=2">password</a> &lt;now&gt;'
    sent = await bot.send_message(USER, html, parse_mode="HTML")
    assert sent.text == "Reset your password <now>"  # what the user sees
    assert fake.calls("sendMessage")[0].params["text"] == html  # what was sent
    assert fake.sent_texts() == ["Reset your password <now>"]

    # the 4096 limit counts visible characters, not markup
    assert (await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")).text == "x" * 4096
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "div"'):
        await bot.send_message(USER, "<div>no</div>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(USER, "<b>open", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r'(?i)unexpected end tag "i"'):
        await bot.send_message(USER, "<b>x</i>", parse_mode="HTML")
    assert (await bot.send_message(USER, "<b>kept</b>")).text == "<b>kept</b>"  # no parse_mode: literal


async def test_answer_callback_query_and_send_chat_action(fake: FakeTelegram, bot: telegram.Bot) -> None:
    assert await bot.answer_callback_query("4000000000000000001", text="Thanks!", show_alert=False) is True
    params = fake.wait_for("answerCallbackQuery").params
    assert params == {"callback_query_id": "4000000000000000001", "text": "Thanks!", "show_alert": False}

    assert await bot.send_chat_action(USER, telegram.constants.ChatAction.TYPING) is True
    assert fake.wait_for("sendChatAction").params == {"chat_id": USER, "action": "typing"}


async def test_edit_message_reply_markup_and_text(fake: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "Pick one", reply_markup=keyboard(("A", "a"), ("B", "b")))

    edited = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard(("A", "a")))
    assert isinstance(edited, telegram.Message) and edited.edit_date is not None
    assert edited.reply_markup == keyboard(("A", "a"))
    assert fake.calls("editMessageReplyMarkup")[0].params == {
        "chat_id": USER,
        "message_id": sent.message_id,
        "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    }
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard(("A", "a")))

    removed = await bot.edit_message_reply_markup(USER, sent.message_id)  # no markup: keyboard removed
    assert isinstance(removed, telegram.Message) and removed.reply_markup is None

    retexted = await bot.edit_message_text("Picked A", USER, sent.message_id)
    assert isinstance(retexted, telegram.Message)
    assert (retexted.text, retexted.message_id) == ("Picked A", sent.message_id)
    assert fake.message(USER, sent.message_id)["text"] == "Picked A"  # type: ignore[index]

    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("nope", USER, 999)
    assert await bot.edit_message_reply_markup(inline_message_id="inline-1") is True


async def test_webhook_set_info_and_delete(fake: FakeTelegram, bot: telegram.Bot) -> None:
    assert await bot.set_webhook(
        "https://support.example/telegram/webhook",
        secret_token="s3cr3t_-token",
        allowed_updates=["message", "callback_query"],
    )
    params = fake.wait_for("setWebhook").params
    assert params["secret_token"] == "s3cr3t_-token"
    assert params["allowed_updates"] == ["message", "callback_query"]
    assert fake.webhook == {
        "url": "https://support.example/telegram/webhook",
        "secret_token": "s3cr3t_-token",
        "allowed_updates": ["message", "callback_query"],
    }

    info = await bot.get_webhook_info()
    assert (info.url, info.has_custom_certificate, info.pending_update_count) == (
        "https://support.example/telegram/webhook",
        False,
        0,
    )
    assert info.allowed_updates == ("message", "callback_query")

    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    with pytest.raises(BadRequest, match=r"(?i)secret token"):
        await bot.set_webhook("https://support.example/hook", secret_token="not allowed!")

    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert fake.webhook == {} and (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


async def test_my_commands(fake: FakeTelegram, bot: telegram.Bot) -> None:
    commands = [telegram.BotCommand("start", "Start over"), telegram.BotCommand("help", "Get help")]
    assert await bot.set_my_commands(commands) is True
    assert await bot.set_my_commands([telegram.BotCommand("start", "Recommencer")], language_code="fr") is True
    assert fake.calls("setMyCommands")[0].params["commands"] == [
        {"command": "start", "description": "Start over"},
        {"command": "help", "description": "Get help"},
    ]
    assert await bot.get_my_commands() == tuple(commands)
    assert [c.description for c in await bot.get_my_commands(language_code="fr")] == ["Recommencer"]
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == ()


async def test_close_and_log_out(fake: FakeTelegram) -> None:
    async with telegram.Bot(fake.token, base_url=fake.base_url) as client:
        assert await client.close() is True
        assert await client.log_out() is True
    assert [c.method for c in fake.calls()][-2:] == ["close", "logOut"]


# -- getUpdates -------------------------------------------------------------------------
async def test_get_updates_offset_semantics(fake: FakeTelegram, bot: telegram.Bot) -> None:
    first, second, third = (fake.push_update(fake.text_update(USER, text)) for text in ("one", "two", "three"))
    ids = [u["update_id"] for u in (first, second, third)]
    assert ids == sorted(ids) and len(set(ids)) == 3

    got = await bot.get_updates()
    assert [u.update_id for u in got] == ids  # unconfirmed: served again next time
    assert [u.message.text for u in got if u.message] == ["one", "two", "three"]
    assert len(await bot.get_updates(limit=1)) == 1

    got = await bot.get_updates(offset=ids[1])  # confirms (drops) "one"
    assert [u.update_id for u in got] == ids[1:]
    assert [u["update_id"] for u in fake.pending_updates()] == ids[1:]

    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert fake.pending_updates() == []
    assert fake.calls("getUpdates")[-1].params["offset"] == ids[2] + 1


async def test_get_updates_long_poll_returns_an_update_pushed_from_another_thread(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    threading.Timer(0.5, lambda: fake.push_update(fake.text_update(USER, "late"))).start()
    started = time.monotonic()
    got = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    assert [u.message.text for u in got if u.message] == ["late"]
    assert 0.4 <= elapsed < 4, elapsed
    assert fake.calls("getUpdates")[-1].params["timeout"] == 5


async def test_get_updates_long_poll_times_out_empty(fake: FakeTelegram, bot: telegram.Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_stop_ends_a_pending_long_poll_quickly() -> None:
    server = FakeTelegram().start()
    async with telegram.Bot(server.token, base_url=server.base_url) as client:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await server.wait_for_async("getMe")
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        assert time.monotonic() - started < 5
        assert await asyncio.wait_for(poll, 5) == ()


# -- update builders, parsed by PTB -----------------------------------------------------
def test_text_update_with_command_entity(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.text_update(USER, "/start promo", username="ana", language_code="pt"), bot)
    message = update.message
    assert message is not None and message.text == "/start promo"
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert list(message.parse_entities([MessageEntity.BOT_COMMAND]).values()) == ["/start"]
    assert update.effective_user is not None
    assert (update.effective_user.id, update.effective_user.username, update.effective_user.language_code) == (
        USER,
        "ana",
        "pt",
    )
    assert update.effective_user.is_bot is False
    assert update.effective_chat is not None
    assert (update.effective_chat.id, update.effective_chat.type) == (USER, "private")
    plain = Update.de_json(fake.text_update(USER, "hello"), bot)
    assert plain.message is not None and plain.message.entities == ()
    assert plain.update_id == update.update_id + 1 and plain.message.message_id == message.message_id + 1


async def test_callback_update_carries_the_bots_message(fake: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "Did this help?", reply_markup=keyboard(("Yes", "fb:yes")))
    update = Update.de_json(fake.callback_update(USER, "fb:yes", message_id=sent.message_id), bot)
    query = update.callback_query
    assert query is not None and query.data == "fb:yes" and query.id and query.chat_instance
    assert query.from_user.id == USER
    assert isinstance(query.message, telegram.Message)
    assert query.message.message_id == sent.message_id and query.message.text == "Did this help?"
    assert query.message.from_user is not None and query.message.from_user.id == fake.bot_id
    assert query.message.reply_markup == keyboard(("Yes", "fb:yes"))
    assert update.effective_chat is not None and update.effective_chat.id == USER

    made_up = Update.de_json(fake.callback_update(USER, "x", message_id=50, message_text="Old question"), bot)
    assert made_up.callback_query is not None and isinstance(made_up.callback_query.message, telegram.Message)
    assert made_up.callback_query.message.text == "Old question"
    assert made_up.callback_query.id != query.id
    # the made-up message is remembered, so the channel can edit it
    assert made_up.callback_query.message.reply_markup == keyboard(("x", "x"))  # it held the pressed button
    edited = await bot.edit_message_reply_markup(USER, 50)  # removing the keyboard is a real change
    assert isinstance(edited, telegram.Message) and edited.text == "Old question" and edited.reply_markup is None


def test_edited_update(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.edited_update(USER, "fixed typo", message_id=3), bot)
    assert update.message is None
    edited = update.edited_message
    assert edited is not None and (edited.text, edited.message_id) == ("fixed typo", 3)
    assert edited.edit_date is not None and edited.edit_date > edited.date
    assert update.effective_message is edited


async def test_photo_update_and_file_download(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.photo_update(USER, caption="my receipt", content=b"jpeg bytes"), bot)
    message = update.message
    assert message is not None and message.caption == "my receipt" and message.text is None
    assert [(p.width, p.height) for p in message.photo] == [(90, 60), (320, 213), (1280, 853)]
    largest = message.photo[-1]
    assert largest.file_id and largest.file_unique_id and largest.file_size == len(b"jpeg bytes")
    file = await largest.get_file()
    assert file.file_path is not None and file.file_path.startswith(fake.base_file_url)
    assert bytes(await file.download_as_bytearray()) == b"jpeg bytes"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("no-such-file")


def test_document_update(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.document_update(USER, file_name="order.pdf", caption="see attached"), bot)
    message = update.message
    assert message is not None and message.document is not None
    assert (message.document.file_name, message.document.mime_type) == ("order.pdf", "application/pdf")
    assert message.document.file_id and message.caption == "see attached"
    assert message.effective_attachment is message.document


def test_voice_update(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.voice_update(USER, duration=7), bot)
    message = update.message
    assert message is not None and message.voice is not None
    assert (seconds(message.voice.duration), message.voice.mime_type) == (7, "audio/ogg")
    assert message.voice.file_id and message.text is None


async def test_group_text_update_with_and_without_mention(fake: FakeTelegram, bot: telegram.Bot) -> None:
    update = Update.de_json(fake.group_text_update(-9001, USER, "where is my order?", mention=True), bot)
    message = update.message
    assert message is not None and message.text == "@larkspur_test_bot where is my order?"
    assert (message.chat.id, message.chat.type, message.chat.title) == (-9001, "group", "Test group")
    assert message.from_user is not None and message.from_user.id == USER
    assert list(message.parse_entities([MessageEntity.MENTION]).values()) == ["@larkspur_test_bot"]

    plain = Update.de_json(fake.group_text_update(-9001, USER, "just chatting"), bot)
    assert plain.message is not None and plain.message.text == "just chatting" and plain.message.entities == ()

    command = Update.de_json(fake.group_text_update(-100777, USER, "/help", True, chat_type="supergroup"), bot)
    assert command.message is not None and command.message.chat.type == "supergroup"
    assert [e.type for e in command.message.entities] == ["mention", "bot_command"]
    assert list(command.message.parse_entities([MessageEntity.BOT_COMMAND]).values()) == ["/help"]

    reply = await bot.send_message(-9001, "Let me check")  # the registry knows it is a group now
    assert reply.chat.type == "group" and reply.message_id == 3


# -- failures ---------------------------------------------------------------------------
async def test_fail_next_500_raises_network_error_then_recovers(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.fail_next("sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(USER, "hello")
    assert (await bot.send_message(USER, "hello")).text == "hello"
    assert [c.error_code for c in fake.calls("sendMessage")] == [500, 500, None]
    assert fake.sent_texts() == ["hello"]

    fake.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(USER, "again")


async def test_fail_next_retry_after_raises_retry_after(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.fail_next("SENDMESSAGE", retry_after=3)  # method names match case-insensitively
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hello")
    assert seconds(caught.value.retry_after) == 3
    assert fake.calls("sendMessage")[0].error_code == 429
    assert (await bot.send_message(USER, "hello")).text == "hello"


async def test_wrong_token_raises_invalid_token(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="999:WRONG"):  # Bot.initialize() wraps the 401 from getMe
        async with telegram.Bot("999:WRONG", base_url=fake.base_url) as client:
            await client.send_message(USER, "never sent")
    assert [(c.method, c.error_code) for c in fake.calls()] == [("getMe", 401)]

    request = HTTPXRequest()
    client = telegram.Bot("999:WRONG", base_url=fake.base_url, request=request)  # not initialized: no getMe
    try:
        with pytest.raises(InvalidToken, match="Unauthorized"):
            await client.send_message(USER, "never sent")
    finally:
        await request.shutdown()
    assert fake.calls("sendMessage")[0].error_code == 401


async def test_unknown_method_is_not_found(fake: FakeTelegram, bot: telegram.Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("no_such_method", api_kwargs={"x": 1})
    response = httpx.post(f"{fake.base_url}{fake.token}/noSuchMethod")
    assert (response.status_code, response.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


# -- raw HTTP: the encodings other clients use ------------------------------------------
def test_raw_http_encodings_and_error_shapes(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.token}"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}

    by_json = httpx.post(f"{url}/sendMessage", json={"chat_id": 1, "text": "json", "reply_markup": markup})
    by_query = httpx.get(f"{url}/SENDMESSAGE", params={"chat_id": "2", "text": "[not json]"})
    by_form = httpx.post(
        f"{url}/sendmessage", data={"chat_id": "3", "text": "form", "reply_markup": json.dumps(markup)}
    )
    by_multipart = httpx.post(
        f"{url}/sendMessage",
        data={"chat_id": "4", "text": "multi"},
        files={"photo": ("a.jpg", b"\xff\xd8", "image/jpeg")},
    )
    assert all(r.status_code == 200 and r.json()["ok"] for r in (by_json, by_query, by_form, by_multipart))
    assert by_json.json()["result"]["reply_markup"] == markup

    json_call, query_call, form_call, multipart_call = fake.calls("sendMessage")
    assert [c.method for c in fake.calls()] == ["sendMessage", "SENDMESSAGE", "sendmessage", "sendMessage"]
    assert json_call.params == form_call.params | {"chat_id": 1, "text": "json"}
    assert query_call.params == {"chat_id": 2, "text": "[not json]"}  # text is never decoded
    assert multipart_call.params == {"chat_id": 4, "text": "multi", "photo": Upload("a.jpg", "image/jpeg", b"\xff\xd8")}

    wrong = httpx.post(f"{fake.base_url}999:WRONG/getMe")
    assert (wrong.status_code, wrong.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    fake.fail_next("getMe", retry_after=5)
    limited = httpx.get(f"{url}/getMe")
    assert (limited.status_code, limited.json()) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 5",
            "parameters": {"retry_after": 5},
        },
    )


# -- recording helpers ------------------------------------------------------------------
def test_wait_for_blocks_until_a_matching_call_and_lists_calls_on_timeout(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.token}/sendMessage"
    httpx.post(url, data={"chat_id": "1", "text": "early"})
    assert fake.wait_for("sendMessage").params["text"] == "early"  # already recorded counts

    since = fake.mark()
    threading.Timer(0.3, lambda: httpx.post(url, data={"chat_id": "1", "text": "late"})).start()
    call = fake.wait_for("sendMessage", since=since, timeout=5)
    assert isinstance(call, Call) and call.params["text"] == "late"
    assert fake.wait_for("sendMessage", lambda c: c.params["text"] == "late").time >= fake.calls()[0].time

    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"no matching sendMessage call within 0\.3s") as caught:
        fake.wait_for("sendMessage", lambda c: c.params["text"] == "never", timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert "'text': 'early'" in str(caught.value) and "'text': 'late'" in str(caught.value)

    fake.clear()
    assert fake.calls() == [] and fake.mark() == 0


async def test_wait_for_async_lets_the_loop_make_the_call(fake: FakeTelegram, bot: telegram.Bot) -> None:
    since = fake.mark()

    async def later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_chat_action(USER, "typing")

    task = asyncio.create_task(later())
    call = await fake.wait_for_async("sendChatAction", since=since, timeout=5)
    assert call.params["action"] == "typing"
    await task
    with pytest.raises(AssertionError, match="no matching sendMessage call"):
        await fake.wait_for_async("sendMessage", timeout=0.2)


def test_post_to_webhook_sends_the_update_with_the_secret_header(fake: FakeTelegram) -> None:
    received: list[tuple[str | None, dict]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        httpx.post(
            f"{fake.base_url}{fake.token}/setWebhook",
            data={"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook", "secret_token": "abc"},
        )
        update = fake.text_update(USER, "hi")
        assert fake.post_to_webhook(update).status_code == 200
        assert received == [("abc", update)]
    finally:
        receiver.shutdown()
        receiver.server_close()
