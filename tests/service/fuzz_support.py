"""The app served by a real uvicorn in a thread, Rasa faked, seeded for the fuzzing tests.

A real server rather than the TestClient: what the fuzzers check is what goes over the wire
(a 5xx, or a WebSocket dropped without a close frame, which only a real server shows).
The app is the product's (``create_app``) with every rate limit off, so that thousands of
generated requests from one address are all served, and the editor API on. It is seeded
with what the authenticated routes need to get past their 401 and 404: an admin and an
agent with tokens (and spare admin tokens for ``logout`` to spend), a conversation waiting
for an agent, three customers who chatted (for the admins' export and erasure), the demo
help centre's articles, and three suggested questions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import requests
import uvicorn
from hypothesis import strategies as st

from tests.conftest import DIALOGUE_THRESHOLDS, EDITOR_KEY, free_port, fresh_database, seed_index
from tests.service.conftest import _faked
from tests.service.fake_rasa import FakeRasa
from webhook.domain.learning import Evidence
from webhook.store import suggestions
from webhook.store import users as user_store
from webhook.store.database import Database, migrate

SPARE_TOKENS = 120  # one per `logout` call the fuzzer makes, on each backend

# Hostile values for both fuzzers: what schemathesis does not make (a lone surrogate, as a JSON escape),
# what databases choke on (NUL, integers past 64 bits), and a pool reused so that duplicates meet.
SHARED_SESSION = "fuzz-shared-session"
ODD_TEXTS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\ud83d\ude00",  # a surrogate pair as two escapes: one emoji
    "\ufeff\u202e\u200d",
    "\U0010ffff",
    "۱۲۳٤٥",
    "سلام 🙂",
    "\r\n\t",
    "%00",
    "../../etc/passwd",
    "null",
    "' OR 1=1 --",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "x" * 4001,
    "y" * 100_001,
]
POOL = ["", "a", "0", SHARED_SESSION, "fuzz-id-1"]  # the same values in many examples: duplicates meet
ODD_INTEGERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**30]
any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=40)
hostile_text = st.one_of(st.sampled_from(ODD_TEXTS), st.sampled_from(POOL), any_text)


@dataclass
class Seeded:
    """What the fuzzers use to get past authentication and not-found."""

    admin_token: str
    agent_token: str
    spare_tokens: list[str]
    conversation_id: str
    article_keys: list[str]
    session: str
    customer_refs: list[str]  # for the admins' export and erasure: web:<session> and conversation ids


@dataclass
class LiveApp:
    base_url: str
    database_url: str
    rasa: FakeRasa
    seeded: Seeded
    server: uvicorn.Server
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "5xx": 0})
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")


async def _seed_users(database_url: str) -> tuple[str, str, list[str]]:
    """An admin and an agent, with bearer tokens; spare admin tokens for ``logout``."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            admin = await user_store.create_user(session, "fuzz-admin", "correct horse", "admin")
            agent = await user_store.create_user(session, "fuzz-agent", "correct horse", "agent")
            ttl = 24 * 3600
            admin_token = (await user_store.issue_token(session, admin, ttl)).token
            agent_token = (await user_store.issue_token(session, agent, ttl)).token
            spare = [(await user_store.issue_token(session, admin, ttl)).token for _ in range(SPARE_TOKENS)]
            await session.commit()
    finally:
        await db.dispose()
    return admin_token, agent_token, spare


async def _seed_suggestions(database_url: str, keys: list[str]) -> None:
    """Customers' questions an article answered, so the editors' suggestion routes list something."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            for n, key in enumerate(keys[:3]):
                found = Evidence(key, "en", f"fuzz question number {n}", "confirmed")
                assert await suggestions.record(session, found, f"fuzz-conversation-{n}") is not None
            await session.commit()
    finally:
        await db.dispose()


def _seed_over_http(base_url: str) -> tuple[str, str, list[str], list[str]]:
    """A conversation waiting for an agent (the customer asked for one), three other customers, the articles' keys."""
    session = f"fuzz-{uuid.uuid4().hex}"
    with httpx.Client(base_url=base_url, timeout=60) as http:
        chat = http.post(
            "/api/chat", json={"session": session, "text": "Talk to a person", "payload": "/request_human"}
        )
        chat.raise_for_status()
        refs = []
        for _ in range(3):
            other = f"fuzz-{uuid.uuid4().hex}"
            answered = http.post("/api/chat", json={"session": other, "text": "Where is my order? ana@example.com"})
            answered.raise_for_status()
            refs += [f"web:{other}", answered.json()["conversation_id"]]
        listed = http.get("/api/kb/articles", headers={"X-API-Key": EDITOR_KEY}, params={"limit": 100})
        listed.raise_for_status()
    body = listed.json()
    items = body["articles"] if isinstance(body, dict) else body
    keys = sorted({item["key"] for item in items})
    assert keys, "the demo help centre has articles"
    return chat.json()["conversation_id"], session, keys, refs


@contextmanager
def live_app(kind: str, work: Path) -> Iterator[LiveApp]:
    """The product's app on a free port of 127.0.0.1, on a fresh database of ``kind``, until the block ends."""
    import webhook.app
    from webhook.settings import Settings

    thresholds = work / "calibration.json"
    thresholds.write_text(json.dumps({"thresholds": DIALOGUE_THRESHOLDS}))
    fake = FakeRasa()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fresh_database(kind, work) as database_url, pytest.MonkeyPatch.context() as patch:
        migrate(database_url)
        admin_token, agent_token, spare = asyncio.run(_seed_users(database_url))
        patch.setattr(webhook.app, "RasaClient", _faked(fake))
        settings = Settings(
            database_url=database_url,
            kb_index_dir=seed_index(work / "index"),
            kb_calibration_file=thresholds,
            public_url=base_url,
            host="127.0.0.1",
            port=port,
            rasa_url="http://rasa.fake:5005",
            rasa_token=fake.token,
            editor_api_key=EDITOR_KEY,
            rate_limit_enabled=False,
        )
        config = uvicorn.Config(
            webhook.app.create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="fuzz-uvicorn", daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    pytest.fail("the app did not start: see the log above")
                thread.join(0.05)
            conversation_id, session, keys, refs = _seed_over_http(base_url)
            asyncio.run(_seed_suggestions(database_url, keys))
            seeded = Seeded(admin_token, agent_token, spare, conversation_id, keys, session, refs)
            yield LiveApp(base_url, database_url, fake, seeded, server)
        finally:
            server.should_exit = True
            thread.join(60)
