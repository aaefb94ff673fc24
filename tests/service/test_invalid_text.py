"""Text no database can store (a lone UTF-16 surrogate, a NUL) is refused where it enters, never a 500.

Issue 26's probe: ``"\\ud800"`` on ``/api/chat`` was a 500, on ``/ws/chat`` it dropped the
socket without a close frame (and the widget resent it for ever); ``client_message_id: ""``
passed validation and broke a unique constraint. Here every text-bearing route and frame
gets both kinds of invalid text: the customer's chat (HTTP and WebSocket), the agents'
reply, note and transfer, sign-in, the editor's articles, suggestions and search, and a
Telegram message through the conversation service.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import EDITOR_AUTH, editor_settings
from tests.service.conftest import ChatApp, stored
from webhook.app import create_app
from webhook.domain.enums import Channel
from webhook.domain.errors import MessageRejected
from webhook.domain.messages import InboundMessage
from webhook.services.conversations import ConversationService
from webhook.store.database import Database
from webhook.store.schema import Customer, Message
from webhook.store.users import create_user

LONE = "\ud800"
INVALID = [f"where is my order{LONE}", "where is\x00 my order", "\udfff"]


def session() -> str:
    return uuid.uuid4().hex


def post_json(client: TestClient, url: str, body: Any, **headers: str) -> Any:
    """``body`` as JSON with ASCII escapes: how a browser or a script sends a lone surrogate."""
    return client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})


def customer_rows(app: ChatApp) -> int:
    return stored(app.database_url, "SELECT count(*) FROM messages WHERE sender = 'customer'")[0][0]


# -- the customer's chat over HTTP -------------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [
        {"text": INVALID[0]},
        {"text": INVALID[1]},
        {"text": "hello", "payload": INVALID[0]},
        {"text": "hello", "client_message_id": INVALID[2]},
        {"text": "hello", "client_message_id": ""},
        {"text": "hello", "client_message_id": "x" * 101},
    ],
)
def test_invalid_text_on_api_chat_is_a_422_and_nothing_is_stored(chat_app: ChatApp, extra: dict[str, str]) -> None:
    before, asked = customer_rows(chat_app), len(chat_app.rasa.received)
    response = post_json(chat_app.http, "/api/chat", {"session": session(), **extra})
    assert response.status_code == 422, response.text
    assert response.json()["error"] in ("invalid_request", "invalid_message")
    assert customer_rows(chat_app) == before and len(chat_app.rasa.received) == asked


def test_a_client_message_id_of_one_to_a_hundred_characters_is_taken(chat_app: ChatApp) -> None:
    for client_message_id in ("x", "y" * 100):
        response = post_json(
            chat_app.http, "/api/chat", {"session": session(), "text": "hi", "client_message_id": client_message_id}
        )
        assert response.status_code == 200, response.text


# -- the customer's chat over the WebSocket ---------------------------------------------------
def test_invalid_text_on_the_socket_is_refused_by_its_id_and_the_socket_lives_on(chat_app: ChatApp) -> None:
    before = customer_rows(chat_app)
    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_text(json.dumps({"type": "hello", "session": session(), "lang": "en"}))
        assert ws.receive_json()["type"] == "ready"
        for number, text in enumerate(INVALID):
            ws.send_text(json.dumps({"type": "message", "client_message_id": f"bad-{number}", "text": text}))
            refusal = ws.receive_json()
            assert refusal["type"] == "error", refusal
            assert (refusal["error"], refusal["client_message_id"]) == ("invalid_message", f"bad-{number}")
        ws.send_text(json.dumps({"type": "message", "client_message_id": "bad-payload", "text": "hi", "payload": LONE}))
        assert ws.receive_json()["client_message_id"] == "bad-payload"
        ws.send_text(json.dumps({"type": "message", "client_message_id": LONE, "text": "hi"}))
        unnamed = ws.receive_json()  # an id that cannot be sent back is not: a bad frame
        assert (unnamed["error"], unnamed["client_message_id"]) == ("bad_frame", None)
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json() == {"type": "pong"}
        assert customer_rows(chat_app) == before
        ws.send_text(json.dumps({"type": "message", "client_message_id": "good", "text": "how much is shipping?"}))
        frames = [ws.receive_json() for _ in range(2)]
        assert any(f["type"] == "ack" and f["client_message_id"] == "good" for f in frames), frames


@pytest.mark.parametrize(
    "hello",
    [
        {"link": LONE},
        {"link": "code\x00"},
        {"user": {"id": LONE, "signature": "x"}},
        {"user": {"id": "u", "signature": "s", "name": LONE}},
    ],
)
def test_invalid_text_in_hello_is_a_bad_frame_and_a_clean_close(chat_app: ChatApp, hello: dict[str, Any]) -> None:
    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_text(json.dumps({"type": "hello", "session": session(), **hello}))
        assert ws.receive_json()["error"] == "bad_frame"
        closed = ws.receive()
        assert closed == {"type": "websocket.close", "code": 4400, "reason": ""}


# -- agents, sign-in and the editor ---------------------------------------------------------------
@pytest.fixture(scope="module")
def staff_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app without Rasa (the editor key set), and an admin's bearer header."""
    work: Path = tmp_path_factory.mktemp("staff-app")
    settings = editor_settings(work, rate_limit_enabled=False)
    with TestClient(create_app(settings)) as client:
        db = Database(settings.database_url)

        async def make_admin() -> None:
            async with db.session() as session:
                await create_user(session, "root", "correct horse", "admin", "Root")
                await session.commit()
            await db.dispose()

        client.portal.call(make_admin)  # type: ignore[union-attr]
        token = post_json(client, "/api/agent/login", {"username": "root", "password": "correct horse"})
        assert token.status_code == 200, token.text
        yield client, {"Authorization": f"Bearer {token.json()['token']}"}


def put_json(client: TestClient, url: str, body: Any, **headers: str) -> Any:
    return client.put(url, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("bad", [LONE, "a\x00b"])
def test_staff_routes_refuse_invalid_text_with_422(staff_app: tuple[TestClient, dict[str, str]], bad: str) -> None:
    client, admin = staff_app
    conversation = "/api/agent/conversations/0123456789abcdef0123456789abcdef"
    article = {"title": "Lockers", "body": "By the entrance.", "questions": ["where?"], "tags": ["store"]}
    lockers = "/api/kb/articles/lockers/en"
    refused = [
        post_json(client, f"{conversation}/messages", {"text": f"hello {bad}"}, **admin),
        post_json(client, f"{conversation}/notes", {"text": f"note {bad}"}, **admin),
        post_json(client, f"{conversation}/transfer", {"username": bad}, **admin),
        post_json(client, "/api/agent/login", {"username": f"root{bad}", "password": "correct horse"}),
        post_json(client, "/api/agent/login", {"username": "root", "password": f"correct horse{bad}"}),
        *(put_json(client, lockers, {**article, field: bad}, **EDITOR_AUTH) for field in ("title", "body", "author")),
        *(put_json(client, lockers, {**article, field: [bad]}, **EDITOR_AUTH) for field in ("questions", "tags")),
        post_json(client, "/api/kb/suggestions/accept", {"ids": [1], "author": bad}, **EDITOR_AUTH),
        post_json(client, f"{lockers}/publish", {"author": bad}, **EDITOR_AUTH),
    ]
    if "\x00" in bad:  # a URL cannot carry a lone surrogate (it is decoded with replacement), but %00 it can
        refused += [
            client.get("/api/agent/conversations/a%00b", headers=admin),
            client.get("/api/kb/articles", params={"q": bad}, headers=EDITOR_AUTH),
            client.get("/api/kb/suggestions", params={"key": bad}, headers=EDITOR_AUTH),
            client.get("/api/kb/search", params={"q": bad}),
        ]
    for response in refused:
        assert response.status_code == 422, (response.request.method, response.request.url, response.text)
        assert response.json()["error"] == "invalid_request"


# -- Telegram, through the conversation service -----------------------------------------------------
@pytest.mark.parametrize("text", INVALID)
async def test_a_telegram_message_that_cannot_be_stored_is_rejected(db: Database, rasa: Any, text: str) -> None:
    service = ConversationService(db, rasa)
    with pytest.raises(MessageRejected) as refused:
        await service.handle(InboundMessage(Channel.TELEGRAM, "4242", text, client_message_id="tg:1"))
    assert text not in str(refused.value)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_a_telegram_name_or_caption_that_cannot_be_stored_is_kept_repaired(db: Database, rasa: Any) -> None:
    service = ConversationService(db, rasa)
    photo = {"kind": "photo", "file_id": "f1"}
    outcome = await service.handle(
        InboundMessage(Channel.TELEGRAM, "4243", f"my receipt{LONE}\x00", display_name=f"Ann{LONE}", attachment=photo)
    )
    async with db.session() as session:
        message = await session.scalar(select(Message).where(Message.id == outcome.message_id))
        customer = await session.scalar(select(Customer))
    assert message is not None and message.text == "my receipt\ufffd\ufffd"
    assert customer is not None and customer.display_name == "Ann\ufffd"
