"""``/health/live`` and ``/health/ready``: what a load balancer asks each worker (Rasa is the fake)."""

from __future__ import annotations

from tests.service.conftest import ChatApp
from webhook.runtime.events import LocalBus, RedisBus


def test_live_is_ok_while_the_process_serves(chat_app: ChatApp) -> None:
    response = chat_app.http.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_checks_the_database_rasa_and_the_index(chat_app: ChatApp) -> None:
    response = chat_app.http.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert {c["name"]: (c["ok"], c["reason"]) for c in body["checks"]} == {
        "database": (True, None),
        "rasa": (True, None),
        "index": (True, None),
    }  # no REDIS_URL here, so no Redis check


def test_ready_is_a_503_with_the_reason_while_rasa_is_down(chat_app: ChatApp) -> None:
    chat_app.rasa.down = True
    try:
        response = chat_app.http.get("/health/ready")
    finally:
        chat_app.rasa.down = False
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["rasa"]["ok"] is False and "Rasa does not answer" in checks["rasa"]["reason"]
    assert checks["database"]["ok"] is True and checks["index"]["ok"] is True
    assert chat_app.http.get("/health/ready").status_code == 200  # back as soon as Rasa is


async def test_the_redis_check_asks_redis_itself() -> None:
    assert await LocalBus().reachable() is True
    live = RedisBus("redis://127.0.0.1:6379/0")
    gone = RedisBus("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await live.reachable() is True
        assert await gone.reachable() is False
    finally:
        await live.redis.aclose()
        await gone.redis.aclose()
