"""Customer web session tokens are stored only as their SHA-256 (webhook/domain/identity.py ``session_key``).

Whoever holds a session token resumes that chat, so after a chat (REST and WebSocket)
no row of any table may hold the token, while a reload (history by session) still
finds the conversation. Migration 0009 hashes the tokens stored before it, on SQLite
and PostgreSQL, and a customer written before it is still found by their token after.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.service.conftest import ChatApp, stored
from webhook.domain.enums import Channel
from webhook.domain.identity import session_key
from webhook.store import conversations as repo
from webhook.store.database import Database, migrate, sync_url

# Reflecting every table: SQLite's expression index on users is skipped, which does not matter here.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")


def token() -> str:
    return "tok_" + uuid.uuid4().hex  # the widget's tokens are URL-safe, 8-200 characters


def rows_holding(database_url: str, needle: str) -> list[str]:
    """``table.column`` of every value anywhere in the database that contains ``needle``."""
    engine = sa.create_engine(sync_url(database_url))
    found = []
    try:
        tables = sa.MetaData()
        tables.reflect(bind=engine)
        assert "channel_identities" in tables.tables and "link_codes" in tables.tables
        with engine.connect() as connection:
            for table in tables.sorted_tables:
                for row in connection.execute(sa.select(table)).mappings():
                    found += [f"{table.name}.{column}" for column, value in row.items() if needle in str(value)]
    finally:
        engine.dispose()
    return found


def test_session_key_is_the_tokens_sha256() -> None:
    assert session_key("abc") == hashlib.sha256(b"abc").hexdigest()
    assert ":" not in session_key("user:1")  # never mistaken for a verified user's key


def test_after_a_chat_no_row_holds_the_token_and_a_reload_resumes(chat_app: ChatApp) -> None:
    secret = token()
    first = chat_app.http.post("/api/chat", json={"session": secret, "text": "how much is shipping?"})
    assert first.status_code == 200, first.text
    conversation_id = first.json()["conversation_id"]
    with chat_app.http.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "hello", "session": secret, "lang": "en"})
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["conversation_id"] == conversation_id  # the socket resumes it
        ws.send_json({"type": "message", "client_message_id": "m-2", "text": "how do I return an item?"})
        frames = [ws.receive_json() for _ in range(3)]
        assert any(f["type"] == "ack" and f["client_message_id"] == "m-2" for f in frames), frames

    history = chat_app.http.get("/api/chat/history", params={"session": secret})
    assert history.status_code == 200
    assert history.json()["conversation_id"] == conversation_id  # a reload resumes the conversation
    texts = [m["text"] for m in history.json()["messages"] if m["sender"] == "customer"]
    assert texts == ["how much is shipping?", "how do I return an item?"]

    assert rows_holding(chat_app.database_url, secret) == []
    assert stored(
        chat_app.database_url,
        "SELECT count(*) FROM channel_identities WHERE channel = 'web' AND external_id = :k",
        k=session_key(secret),
    ) == [(1,)]
    # another token does not resume it
    stranger = chat_app.http.get("/api/chat/history", params={"session": token()})
    assert stranger.json() == {"conversation_id": None, "messages": []}


def _insert_before_0009(database_url: str, raw: str) -> dict[str, Any]:
    """A web customer, a verified user, a Telegram user and their used link codes, as 0008 stored them."""
    engine = sa.create_engine(sync_url(database_url))
    meta = sa.MetaData()
    meta.reflect(bind=engine, only=["customers", "channel_identities", "link_codes"])
    customers, identities, codes = (meta.tables[n] for n in ("customers", "channel_identities", "link_codes"))
    now = datetime.now(UTC)
    customer_id = uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(customers.insert().values(id=customer_id, created_at=now))
        for channel, external_id in (("web", raw), ("web", "user:42"), ("telegram", "5550123")):
            connection.execute(
                identities.insert().values(
                    customer_id=customer_id, channel=channel, external_id=external_id, created_at=now, last_seen_at=now
                )
            )
        for code, target, used_by in (
            ("a" * 64, "web", raw),
            ("b" * 64, "telegram", "5550123"),
            ("c" * 64, "web", None),
        ):
            connection.execute(
                codes.insert().values(
                    code_hash=code,
                    customer_id=customer_id,
                    target=target,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                    used_at=now if used_by else None,
                    used_by=used_by,
                )
            )
    engine.dispose()
    return {"customer_id": customer_id}


async def test_migration_0009_hashes_the_web_tokens_stored_before_it(database_url: str) -> None:
    migrate(database_url, "0008")
    raw = token()
    written = _insert_before_0009(database_url, raw)
    migrate(database_url)

    identities = stored(database_url, "SELECT channel, external_id FROM channel_identities ORDER BY id")
    assert identities == [("web", session_key(raw)), ("web", "user:42"), ("telegram", "5550123")]
    codes = stored(database_url, "SELECT code_hash, used_by FROM link_codes ORDER BY code_hash")
    assert codes == [("a" * 64, session_key(raw)), ("b" * 64, "5550123"), ("c" * 64, None)]
    assert rows_holding(database_url, raw) == []

    db = Database(database_url)  # the browser that holds the token still finds its customer
    try:
        async with db.session() as session:
            customer = await repo.find_customer(session, Channel.WEB, session_key(raw))
            assert customer is not None and customer.id == written["customer_id"]
            assert await repo.find_customer(session, Channel.WEB, raw) is None
    finally:
        await db.dispose()
