"""Origin checks on the running app (the fake Rasa behind it): cookie-signed writes and the agents'
socket only from our own pages, scripts with a token from anywhere, the widget's socket from the
sites allowed to embed it. The app's own origins here: PUBLIC_URL (http://support.example) and
the one the test client addresses (http://testserver).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.handoff_support import make_agent
from tests.service.conftest import ChatApp
from webhook.api.deps import COOKIE_NAME

EVIL = "https://evil.example"
OWN = "http://testserver"
PUBLIC = "http://support.example"


@pytest.fixture(scope="module")
def agent_token(chat_app: ChatApp) -> str:
    """A signed-in agent's token (the client keeps no cookie: each test says what it sends)."""
    http = chat_app.http
    app: Any = http.app
    portal: Any = http.portal  # the client's event loop, where the app's database lives
    user = portal.call(make_agent, app.state.db, "ana")
    response = http.post("/api/agent/login", json={"username": user.username, "password": "correct horse"})
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return str(response.json()["token"])


@pytest.fixture
def http(chat_app: ChatApp) -> Iterator[TestClient]:
    yield chat_app.http
    chat_app.http.cookies.clear()


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "claims",
    [{"Origin": OWN}, {"Origin": PUBLIC}, {"Referer": f"{OWN}/agent"}],
    ids=["origin", "public-url", "referer"],
)
def test_a_cookie_signed_write_from_our_own_page_passes(http: TestClient, agent_token: str, claims: dict) -> None:
    response = http.post("/api/agent/presence", json={"available": False}, headers=cookie(agent_token) | claims)
    assert response.status_code == 200, response.text
    assert response.json() == {"available": False}


@pytest.mark.parametrize("claims", [{"Origin": EVIL}, {"Referer": f"{EVIL}/x"}, {}], ids=["origin", "referer", "none"])
def test_the_same_write_from_a_foreign_page_is_403(http: TestClient, agent_token: str, claims: dict) -> None:
    response = http.post("/api/agent/presence", json={"available": True}, headers=cookie(agent_token) | claims)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"


def test_a_script_with_a_bearer_token_is_exempt(http: TestClient, agent_token: str) -> None:
    """A browser never adds an Authorization header by itself: a token proves the caller chose to send it."""
    response = http.post(
        "/api/agent/presence",
        json={"available": False},
        headers=bearer(agent_token) | cookie(agent_token) | {"Origin": EVIL},
    )
    assert response.status_code == 200, response.text


def test_the_widgets_routes_take_posts_from_any_embedding_page(http: TestClient) -> None:
    response = http.post(
        "/api/chat", json={"session": "hardening-widget-1", "text": "/greet", "lang": "en"}, headers={"Origin": EVIL}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"


def test_agent_routes_answer_no_cors_to_another_site(http: TestClient, agent_token: str) -> None:
    response = http.get("/api/agent/queue", headers=bearer(agent_token) | {"Origin": EVIL})
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("access-control-")]
    assert response.headers["x-frame-options"] == "DENY"


# -- the agents' socket ---------------------------------------------------------------------
def first_frame(http: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    with http.websocket_connect("/ws/agent", headers=headers) as ws:
        frame: dict[str, Any] = ws.receive_json()
        return frame


def test_the_agents_socket_refuses_a_foreign_origin(http: TestClient, agent_token: str) -> None:
    for origin in (EVIL, "null", "http://testserver.evil.example"):
        with pytest.raises(WebSocketDisconnect) as refused:
            first_frame(http, cookie(agent_token) | {"Origin": origin})
        assert refused.value.code == 4403, origin


def test_the_agents_socket_opens_from_our_own_page_and_for_scripts(http: TestClient, agent_token: str) -> None:
    assert first_frame(http, cookie(agent_token) | {"Origin": OWN})["type"] == "queue"
    assert first_frame(http, cookie(agent_token) | {"Origin": PUBLIC})["type"] == "queue"
    assert first_frame(http, bearer(agent_token))["type"] == "queue", "no Origin: not a browser"


# -- the widget's socket -------------------------------------------------------------------
def hello(http: TestClient, origin: str, session: str) -> dict[str, Any]:
    with http.websocket_connect("/ws/chat", headers={"Origin": origin}) as ws:
        ws.send_json({"type": "hello", "session": session, "lang": "en"})
        frame: dict[str, Any] = ws.receive_json()
        return frame


def test_the_widgets_socket_follows_widget_allowed_origins(http: TestClient) -> None:
    app: Any = http.app
    settings = app.state.settings
    assert hello(http, EVIL, "hardening-widget-2")["type"] == "ready", "the default '*' allows any site"
    before = settings.widget_allowed_origins
    settings.widget_allowed_origins = "https://shop.example"
    try:
        assert hello(http, "https://shop.example", "hardening-widget-3")["type"] == "ready"
        assert hello(http, OWN, "hardening-widget-4")["type"] == "ready", "our own pages always may"
        with pytest.raises(WebSocketDisconnect) as refused:
            hello(http, EVIL, "hardening-widget-5")
        assert refused.value.code == 4403
    finally:
        settings.widget_allowed_origins = before
