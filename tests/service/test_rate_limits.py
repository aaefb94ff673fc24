"""The abuse limits on the running app: two workers (two apps in process, the fake Rasa behind them)
on one SQLite database and one real Redis, as two uvicorn workers behind a proxy would be.

Requests come from 127.0.0.1, a trusted proxy here, so ``X-Forwarded-For`` says which customer
each one stands for. Each test counts under a Redis key prefix of its own. The rates are small
(``RATES``); the 429s must appear exactly at them, whichever worker a request reaches.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from tests.conftest import DIALOGUE_THRESHOLDS, seed_index
from tests.handoff_support import make_agent
from tests.service.conftest import LINK_BASE, _faked, stored
from tests.service.fake_rasa import FakeRasa
from webhook.runtime.rate_limits import RateCounter
from webhook.settings import Settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse"
FIRST_LOCKOUT_S = 2
RATES: dict[str, Any] = {
    "rate_limit_enabled": True,
    "rate_limit_per_ip": "12/minute",
    "rate_limit_chat_per_ip": "5/minute",
    "rate_limit_chat_per_session": "3/minute",
    "rate_limit_new_conversations_per_ip": "2/minute",
    "rate_limit_sign_in_per_ip": "5/minute",
    "rate_limit_sign_in_per_user": "3/minute",
    "sign_in_lockout_s": FIRST_LOCKOUT_S,
    "rate_limit_staff_per_user": "4/minute",
    "trusted_proxies": "127.0.0.1",
}


@dataclass
class Workers:
    first: TestClient
    second: TestClient
    database_url: str

    def take_turns(self, n: int) -> Iterator[TestClient]:
        """The workers in turn, as a proxy would spread ``n`` requests over them."""
        for i in range(n):
            yield (self.first, self.second)[i % 2]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    import webhook.app

    work = tmp_path_factory.mktemp("rate-limits")
    thresholds = work / "calibration.json"
    thresholds.write_text(json.dumps({"thresholds": DIALOGUE_THRESHOLDS}))
    fake = FakeRasa()
    settings = Settings(
        database_url=f"sqlite:///{work / 'support.db'}",
        kb_index_dir=seed_index(work / "index"),
        kb_calibration_file=thresholds,
        public_url=LINK_BASE,
        rasa_url="http://rasa.fake:5005",
        rasa_token=fake.token,
        redis_url=REDIS_URL,
        **RATES,
    )
    proxy = ("127.0.0.1", 50000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhook.app, "RasaClient", _faked(fake))
        with (
            TestClient(webhook.app.create_app(settings), client=proxy) as first,
            TestClient(webhook.app.create_app(settings), client=proxy) as second,
        ):
            yield Workers(first, second, settings.database_url)


@pytest.fixture
def counts(workers: Workers) -> Iterator[str]:
    """Fresh counters for this test, under a Redis key prefix of its own, shared by both workers."""
    prefix = f"larkspur:test-limits:{uuid.uuid4().hex[:12]}"
    for http in (workers.first, workers.second):
        limits = http.app.state.abuse_limits  # type: ignore[attr-defined]
        earlier, limits.counter = limits.counter, RateCounter(REDIS_URL, prefix=prefix)
        http.portal.call(earlier.close)  # type: ignore[union-attr]
    yield prefix
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = client.keys(f"{prefix}:*")
        if keys:
            client.delete(*keys)


def customer(ip: str) -> dict[str, str]:
    """The headers of a request the proxy forwards for the customer at ``ip``."""
    return {"X-Forwarded-For": ip}


def chat(http: TestClient, ip: str, session: str, text: str) -> httpx.Response:
    return http.post("/api/chat", json={"session": session, "text": text, "lang": "en"}, headers=customer(ip))


def assert_limited(response: httpx.Response, at_most_s: int = 60) -> int:
    """A 429 in the documented shape; the wait it names."""
    assert response.status_code == 429, response.text
    body = response.json()
    wait = int(response.headers["Retry-After"])
    assert body["error"] == "rate_limited" and body["detail"] and body["retry_after"] == wait
    assert 1 <= wait <= at_most_s
    return wait


def customer_texts(workers: Workers, marker: str) -> list[str]:
    rows = stored(workers.database_url, "SELECT text FROM messages WHERE text LIKE :m ORDER BY id", m=f"{marker}%")
    return [row[0] for row in rows]


def session_id() -> str:
    return f"limits-{uuid.uuid4().hex[:12]}"


# -- every request, per IP; two workers, one count -------------------------------------------------
def test_every_request_per_ip_holds_across_two_workers(workers: Workers, counts: str) -> None:
    history = f"/api/chat/history?session={session_id()}"
    answers = [http.get(history, headers=customer("198.51.100.1")) for http in workers.take_turns(13)]
    assert [a.status_code for a in answers[:12]] == [200] * 12
    assert_limited(answers[12])
    assert workers.first.get(history, headers=customer("198.51.100.2")).status_code == 200
    with redis.Redis.from_url(REDIS_URL) as client:
        assert client.keys(f"{counts}:*"), "the counts must live in Redis, shared by the workers"


def test_sign_in_attempts_per_ip_hold_across_two_workers(workers: Workers, counts: str) -> None:
    user = workers.first.portal.call(make_agent, workers.first.app.state.db, "ivy")  # type: ignore[union-attr,attr-defined]
    wrong = [
        http.post(
            "/api/agent/login", json={"username": f"nobody-{i}", "password": "x"}, headers=customer("198.51.100.3")
        )
        for i, http in enumerate(workers.take_turns(5))
    ]
    assert [r.status_code for r in wrong] == [401] * 5
    right = {"username": user.username, "password": PASSWORD}
    assert_limited(workers.second.post("/api/agent/login", json=right, headers=customer("198.51.100.3")))
    assert workers.second.post("/api/agent/login", json=right, headers=customer("198.51.100.4")).status_code == 200


# -- customer messages ----------------------------------------------------------------------------
def test_messages_per_chat_session(workers: Workers, counts: str) -> None:
    marker, session = f"per-session {uuid.uuid4().hex[:8]}", session_id()
    answers = [chat(http, "198.51.100.10", session, f"{marker} {i}") for i, http in enumerate(workers.take_turns(4))]
    assert [a.status_code for a in answers[:3]] == [200] * 3, answers[0].text
    assert_limited(answers[3])
    assert customer_texts(workers, marker) == [f"{marker} {i}" for i in range(3)], "the refused one is not stored"


def test_messages_per_ip_over_several_sessions(workers: Workers, counts: str) -> None:
    ip, marker = "198.51.100.11", f"per-ip {uuid.uuid4().hex[:8]}"
    first, second = session_id(), session_id()
    sent = [chat(workers.first, ip, first, f"{marker} a{i}") for i in range(3)]
    sent += [chat(workers.second, ip, second, f"{marker} b{i}") for i in range(2)]
    assert [r.status_code for r in sent] == [200] * 5
    assert_limited(chat(workers.first, ip, second, f"{marker} b2"))
    assert chat(workers.first, "198.51.100.12", session_id(), f"{marker} other").status_code == 200


def test_new_conversations_per_ip(workers: Workers, counts: str) -> None:
    ip, marker = "198.51.100.13", f"new {uuid.uuid4().hex[:8]}"
    sessions = [session_id() for _ in range(3)]
    assert chat(workers.first, ip, sessions[0], f"{marker} 0").status_code == 200
    assert chat(workers.second, ip, sessions[1], f"{marker} 1").status_code == 200
    assert_limited(chat(workers.first, ip, sessions[2], f"{marker} 2"))
    assert chat(workers.second, ip, sessions[0], f"{marker} again").status_code == 200  # an open conversation
    assert customer_texts(workers, marker) == [f"{marker} 0", f"{marker} 1", f"{marker} again"]


def test_the_websocket_refuses_a_message_over_the_session_limit_and_stores_nothing(
    workers: Workers, counts: str
) -> None:
    marker, session = f"socket {uuid.uuid4().hex[:8]}", session_id()
    with workers.second.websocket_connect("/ws/chat", headers=customer("198.51.100.20")) as ws:
        ws.send_json({"type": "hello", "session": session, "lang": "en"})
        assert ws.receive_json()["type"] == "ready"
        for i in range(4):
            ws.send_json({"type": "message", "client_message_id": f"m{i}", "text": f"{marker} {i}"})
        acks: list[str] = []
        errors: list[dict[str, Any]] = []
        for _ in range(200):
            frame = ws.receive_json()
            if frame["type"] == "ack":
                acks.append(frame["client_message_id"])
            elif frame["type"] == "error":
                errors.append(frame)
            if len(acks) == 3 and errors:
                break
    assert acks == ["m0", "m1", "m2"]
    assert len(errors) == 1, errors
    refused = errors[0]
    assert refused["error"] == "rate_limited" and refused["client_message_id"] == "m3"
    assert 1 <= refused["retry_after"] <= 60
    assert customer_texts(workers, marker) == [f"{marker} {i}" for i in range(3)]


def test_a_customer_is_served_while_another_ip_floods(workers: Workers, counts: str) -> None:
    flood = [chat(http, "198.51.100.30", session_id(), "flood") for http in workers.take_turns(10)]
    flood += [
        http.get("/api/chat/history?session=flooding", headers=customer("198.51.100.30"))
        for http in workers.take_turns(10)
    ]
    assert [r.status_code for r in flood].count(429) >= 10
    served = chat(workers.first, "198.51.100.31", session_id(), "where is my order?")
    assert served.status_code == 200, served.text
    assert served.json()["replies"], "the other customer gets an answer"


# -- sign-in per username: the growing lockout ------------------------------------------------------
def sign_in(workers: Workers, username: str, password: str, attempt: int) -> httpx.Response:
    """Each attempt from an address of its own, so that only the per-username limit is at work."""
    http = (workers.first, workers.second)[attempt % 2]
    response = http.post(
        "/api/agent/login", json={"username": username, "password": password}, headers=customer(f"203.0.113.{attempt}")
    )
    http.cookies.clear()
    return response


def audit_rows(workers: Workers, target: str) -> list[tuple[Any, ...]]:
    return stored(
        workers.database_url,
        "SELECT action, target, ip, detail FROM audit_events WHERE target = :t AND action LIKE 'sign_in%' ORDER BY id",
        t=target,
    )


def test_the_lockout_refuses_even_the_right_password_and_doubles_the_next_time(workers: Workers, counts: str) -> None:
    user = workers.first.portal.call(make_agent, workers.first.app.state.db, "lou")  # type: ignore[union-attr,attr-defined]
    wrong = "not the password"
    assert [sign_in(workers, user.username, wrong, i).status_code for i in range(3)] == [401] * 3
    right = sign_in(workers, user.username, PASSWORD, 3)
    first_wait = assert_limited(right, at_most_s=FIRST_LOCKOUT_S)
    wrong_while_locked = sign_in(workers, user.username, wrong, 4)
    assert wrong_while_locked.status_code == 429 and wrong_while_locked.json()["detail"] == right.json()["detail"]

    time.sleep(first_wait + 0.2)  # the first lockout ends
    assert [sign_in(workers, user.username.upper(), wrong, 5 + i).status_code for i in range(3)] == [401] * 3
    second_wait = assert_limited(sign_in(workers, user.username, PASSWORD, 8), at_most_s=2 * FIRST_LOCKOUT_S)
    assert second_wait > FIRST_LOCKOUT_S, "the second lockout lasts twice as long"

    rows = audit_rows(workers, f"user:{user.id}")
    actions = [row[0] for row in rows]
    assert actions == ["sign_in.failed"] * 3 + ["sign_in.locked"] + ["sign_in.failed"] * 3 + ["sign_in.locked"]
    locks = [json.loads(row[3]) if isinstance(row[3], str) else row[3] for row in rows if row[0] == "sign_in.locked"]
    assert locks == [{"seconds": 2, "lockout": 1}, {"seconds": 4, "lockout": 2}]
    assert rows[0][2] == "203.0.113.0", "the audit log keeps the client's address"
    everything = stored(workers.database_url, "SELECT * FROM audit_events")
    assert wrong not in repr(everything) and PASSWORD not in repr(everything), "never a password"


def test_a_success_forgets_the_failures(workers: Workers, counts: str) -> None:
    user = workers.first.portal.call(make_agent, workers.first.app.state.db, "sam")  # type: ignore[union-attr,attr-defined]
    results = [sign_in(workers, user.username, "nope", i).status_code for i in range(2)]
    results.append(sign_in(workers, user.username, PASSWORD, 2).status_code)
    results += [sign_in(workers, user.username, "nope", 3 + i).status_code for i in range(2)]
    results.append(sign_in(workers, user.username, PASSWORD, 5).status_code)
    assert results == [401, 401, 200, 401, 401, 200]
    actions = [row[0] for row in audit_rows(workers, f"user:{user.id}")]
    assert actions == ["sign_in.failed", "sign_in.failed", "sign_in", "sign_in.failed", "sign_in.failed", "sign_in"]


def test_an_unknown_username_locks_the_same_way_and_is_not_kept(workers: Workers, counts: str) -> None:
    name = f"ghost-{uuid.uuid4().hex[:6]}"
    assert [sign_in(workers, name, "guess", i).status_code for i in range(3)] == [401] * 3
    assert_limited(sign_in(workers, name, "guess", 3), at_most_s=FIRST_LOCKOUT_S)
    assert name not in repr(stored(workers.database_url, "SELECT * FROM audit_events"))


# -- staff API calls, per user --------------------------------------------------------------------------
def test_staff_api_calls_per_signed_in_user(workers: Workers, counts: str) -> None:
    tokens = []
    for name in ("ann", "ben"):
        user = workers.first.portal.call(make_agent, workers.first.app.state.db, name)  # type: ignore[union-attr,attr-defined]
        tokens.append(sign_in(workers, user.username, PASSWORD, 40 + len(tokens)).json()["token"])
    ann, ben = ({"Authorization": f"Bearer {token}"} for token in tokens)
    calls = [
        http.get("/api/agent/me", headers=ann | customer(f"203.0.113.{50 + i}"))
        for i, http in enumerate(workers.take_turns(5))
    ]
    assert [c.status_code for c in calls[:4]] == [200] * 4
    assert_limited(calls[4])
    assert workers.second.get("/api/agent/me", headers=ben).status_code == 200


def test_console_socket_frames_count_against_the_agents_staff_limit(workers: Workers, counts: str) -> None:
    user = workers.first.portal.call(make_agent, workers.first.app.state.db, "cal")  # type: ignore[union-attr,attr-defined]
    token = sign_in(workers, user.username, PASSWORD, 60).json()["token"]
    headers = {"Authorization": f"Bearer {token}"} | customer("203.0.113.70")
    answers = []
    with workers.first.websocket_connect("/ws/agent", headers=headers) as ws:
        assert ws.receive_json()["type"] == "queue"
        for _ in range(5):
            ws.send_json({"type": "ping"})
            while (answer := ws.receive_json())["type"] == "queue":
                pass
            answers.append(answer)
    assert answers[:4] == [{"type": "pong"}] * 4
    assert answers[4]["type"] == "error" and answers[4]["error"] == "rate_limited", answers[4]
    assert 1 <= answers[4]["retry_after"] <= 60


# -- the client's address, and the switch (one worker, in-memory counts, no lifespan) --------------------
def bare_app(tmp_path: Path, **values: Any) -> Any:
    from webhook.app import create_app

    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", redis_url="", **values))


async def statuses(app: Any, peer: str, forwarded: list[str | None]) -> list[int]:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return [
            (await http.get("/static/widget.js", headers={"X-Forwarded-For": f} if f else {})).status_code
            for f in forwarded
        ]


async def test_an_untrusted_peers_forwarded_for_is_ignored(tmp_path: Path) -> None:
    app = bare_app(tmp_path, rate_limit_enabled=True, rate_limit_per_ip="3/minute", trusted_proxies="10.0.0.1")
    spoofed = [f"198.51.100.{i}" for i in range(4)]
    assert await statuses(app, "192.0.2.10", spoofed) == [200, 200, 200, 429], "one client, whatever it claims"
    assert await statuses(app, "10.0.0.1", spoofed) == [200] * 4, "a trusted proxy's clients are told apart"
    assert await statuses(app, "10.0.0.1", ["198.51.100.0"] * 3) == [200, 200, 429]


async def test_switched_off_nothing_is_limited(tmp_path: Path) -> None:
    app = bare_app(tmp_path, rate_limit_enabled=False, rate_limit_per_ip="1/minute")
    assert await statuses(app, "192.0.2.10", [None] * 5) == [200] * 5
