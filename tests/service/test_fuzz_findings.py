"""What the fuzzers (test_fuzz_api.py, test_fuzz_websocket.py) found, each pinned by a test of its own.

- An integer past 64 bits where a request carries an id, a version or an offset reached the
  driver ("Python int too large to convert to SQLite INTEGER"): a 500 on the editor API, and
  on ``/ws/chat`` (a ``hello`` with a huge ``after``) a socket dropped without a close frame.
- A binary frame on either socket was an unhandled ``KeyError`` in Starlette's ``receive_text``,
  and JSON nested past the parser's recursion limit a ``RecursionError``: both dropped the
  socket without a close frame. Now each is a ``bad_frame`` error, and the socket lives on.
- Suggested questions' times came back from SQLite without their zone, against the schema's
  ``date-time`` (as the articles' did).
- ``/ws/agent`` said nothing to a frame it did not understand (not an object, an unknown type);
  now it answers ``bad_frame``, so every frame gets an answer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import EDITOR_AUTH, editor_settings
from tests.handoff_support import make_agent
from tests.service.conftest import ChatApp
from webhook.app import create_app
from webhook.domain.learning import Evidence
from webhook.store import suggestions
from webhook.store.database import Database

TOO_BIG = [2**31, 2**63, 10**30]
DEEP = "[" * 100_000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("findings")


@pytest.fixture(scope="module")
def editor(workdir: Path) -> Any:
    with TestClient(create_app(editor_settings(workdir))) as client:
        yield client


@pytest.mark.parametrize("number", TOO_BIG)
def test_integers_past_the_columns_are_a_422(editor: TestClient, number: int) -> None:
    calls = [
        editor.get("/api/kb/articles", params={"offset": number}, headers=EDITOR_AUTH),
        editor.get("/api/kb/suggestions", params={"offset": number}, headers=EDITOR_AUTH),
        editor.post("/api/kb/suggestions/accept", json={"ids": [1, number]}, headers=EDITOR_AUTH),
        editor.post("/api/kb/suggestions/dismiss", json={"ids": [number]}, headers=EDITOR_AUTH),
        editor.post("/api/kb/articles/returns/en/rollback", json={"version": number}, headers=EDITOR_AUTH),
    ]
    assert [c.status_code for c in calls] == [422] * len(calls), [c.text for c in calls]
    assert all(c.json()["error"] == "invalid_request" for c in calls)


def test_the_largest_stored_integer_is_still_taken(editor: TestClient) -> None:
    largest = 2**31 - 1
    assert editor.get("/api/kb/articles", params={"offset": largest}, headers=EDITOR_AUTH).json() == []
    assert editor.post("/api/kb/suggestions/dismiss", json={"ids": [largest]}, headers=EDITOR_AUTH).status_code == 404


def test_suggestion_times_carry_their_utc_offset(editor: TestClient, workdir: Path) -> None:
    """The schema promises RFC 3339 date-times; SQLite hands back datetimes without a zone."""

    async def suggest() -> None:
        db = Database(f"sqlite:///{workdir / 'support.db'}")
        try:
            async with db.session() as session:
                found = Evidence("track-order", "en", "where has my parcel got to", "confirmed")
                assert await suggestions.record(session, found, "conversation-1") is not None
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(suggest())
    [listed] = editor.get("/api/kb/suggestions", headers=EDITOR_AUTH).json()
    for moment in (listed["first_seen_at"], listed["last_seen_at"]):
        assert datetime.fromisoformat(moment).utcoffset() == timedelta(0), moment
    dismissed = editor.post("/api/kb/suggestions/dismiss", json={"ids": [listed["id"]]}, headers=EDITOR_AUTH)
    assert datetime.fromisoformat(dismissed.json()[0]["decided_at"]).utcoffset() == timedelta(0), dismissed.text


def hello(**extra: Any) -> dict[str, Any]:
    return {"type": "hello", "session": uuid.uuid4().hex, **extra}


@pytest.mark.parametrize("after", TOO_BIG)
def test_a_hello_after_past_any_message_id_is_a_bad_frame(chat_app: ChatApp, after: int) -> None:
    from starlette.websockets import WebSocketDisconnect

    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_json(hello(after=after))
        refused = ws.receive_json()
        assert refused["type"] == "error" and refused["error"] == "bad_frame", refused
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400


@pytest.mark.parametrize("frame", [b"\x00\xff", b'{"type": "ping"}', DEEP], ids=["bytes", "json-bytes", "deep"])
def test_the_widget_answers_binary_and_deep_frames_and_lives_on(chat_app: ChatApp, frame: bytes | str) -> None:
    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_json(hello())
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
        answer = ws.receive_json()
        assert answer["type"] == "error" and answer["error"] == "bad_frame", answer
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


@pytest.mark.parametrize("first", [b'{"type": "hello"}', DEEP], ids=["bytes", "deep"])
def test_a_binary_or_deep_hello_is_refused_with_a_close_code(chat_app: ChatApp, first: bytes | str) -> None:
    from starlette.websockets import WebSocketDisconnect

    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_bytes(first) if isinstance(first, bytes) else ws.send_text(first)
        assert ws.receive_json()["error"] == "bad_frame"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400


@pytest.fixture(scope="module")
def agent_token(chat_app: ChatApp) -> str:
    http = chat_app.http
    app: Any = http.app
    portal: Any = http.portal  # the client's event loop, where the app's database lives
    user = portal.call(make_agent, app.state.db, "finn")
    response = http.post("/api/agent/login", json={"username": user.username, "password": "correct horse"})
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return str(response.json()["token"])


@pytest.mark.parametrize(
    "frame",
    [b"\x00\xff", DEEP, "not json", json.dumps([1, 2]), json.dumps({"type": "dance"}), json.dumps({"type": "follow"})],
    ids=["bytes", "deep", "not-json", "not-an-object", "unknown-type", "follow-without-id"],
)
def test_the_console_socket_answers_every_frame(chat_app: ChatApp, agent_token: str, frame: bytes | str) -> None:
    headers = {"Authorization": f"Bearer {agent_token}"}
    with chat_app.http.websocket_connect("/ws/agent", headers=headers) as ws:
        assert ws.receive_json()["type"] == "queue"
        ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
        answer = ws.receive_json()
        while answer["type"] == "queue":  # the queue may change meanwhile
            answer = ws.receive_json()
        assert answer["type"] == "error" and answer["error"] == "bad_frame", answer
        ws.send_json({"type": "ping"})
        while (answer := ws.receive_json())["type"] == "queue":
            pass
        assert answer == {"type": "pong"}
