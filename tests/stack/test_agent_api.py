"""The agent API of the running product: who may use it, and the queue → claim → reply → resolve path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ROOT

PASSWORD = "a long enough password"


def create_user(stack, role: str = "agent") -> str:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "create-user",
            "--username",
            username,
            "--role",
            role,
            "--password",
            PASSWORD,
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": stack.database_url},
        check=True,
        capture_output=True,
    )
    return username


def login(stack, username: str) -> dict[str, str]:
    response = httpx.post(f"{stack.base_url}/api/agent/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def handed_over(stack) -> str:
    session = uuid.uuid4().hex
    reply = stack.chat(session, "Talk to a person", payload="/request_human").json()
    return reply["conversation_id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {uuid.uuid4().hex}"},  # what a customer's widget holds: a session token
        {"Cookie": "larkspur_agent=garbage"},
    ],
)
def test_agent_routes_refuse_anyone_not_signed_in_as_an_agent(stack, headers):
    conversation_id = handed_over(stack)
    for method, path in [
        ("GET", "/api/agent/queue"),
        ("GET", f"/api/agent/conversations/{conversation_id}"),
        ("POST", f"/api/agent/conversations/{conversation_id}/claim"),
        ("POST", f"/api/agent/conversations/{conversation_id}/resolve"),
    ]:
        # from our own page: a cookie-signed write from anywhere else is refused earlier, with 403 (CSRF)
        own_page = {"Origin": stack.base_url}
        response = httpx.request(method, f"{stack.base_url}{path}", headers=headers | own_page)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "unauthorized"


def test_an_editor_is_not_an_agent_and_the_socket_needs_a_sign_in(stack):
    editor = login(stack, create_user(stack, "editor"))
    assert httpx.get(f"{stack.base_url}/api/agent/queue", headers=editor).status_code == 403
    with pytest.raises(Exception) as refused, connect(stack.ws_url.replace("/ws/chat", "/ws/agent")) as ws:
        ws.recv(timeout=10)
    assert isinstance(refused.value, InvalidStatus) or "4401" in str(refused.value)


def test_two_agents_racing_over_http_exactly_one_wins(stack):
    conversation_id = handed_over(stack)
    first, second = login(stack, create_user(stack)), login(stack, create_user(stack))
    url = f"{stack.base_url}/api/agent/conversations/{conversation_id}/claim"
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda h: httpx.post(url, headers=h, timeout=30), [first, second]))
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"] == "conflict"


def test_queue_claim_reply_resolve_over_the_api_and_the_live_socket(stack):
    agent = login(stack, create_user(stack))
    httpx.post(f"{stack.base_url}/api/agent/presence", json={"available": True}, headers=agent).raise_for_status()
    with connect(stack.ws_url.replace("/ws/chat", "/ws/agent"), additional_headers=agent) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "queue"
        session = uuid.uuid4().hex
        stack.chat(session, "How do I return an item?")
        conversation_id = stack.chat(session, "Talk to a person", payload="/request_human").json()["conversation_id"]
        while True:  # the handoff arrives live, flagged as new
            frame = json.loads(ws.recv(timeout=60))
            if frame["type"] == "queue" and conversation_id in frame.get("new", []):
                break
        waiting = [item["conversation_id"] for item in frame["queue"]["waiting"]]
        assert conversation_id in waiting and frame["queue"]["online"] is True

        packet = httpx.post(f"{stack.base_url}/api/agent/conversations/{conversation_id}/claim", headers=agent).json()
        assert packet["reason"] == "customer_request"
        assert packet["summary"]["question"] == "How do I return an item?"
        assert [m["channel"] for m in packet["transcript"]][:1] == ["web"]
        ws.send(json.dumps({"type": "follow", "conversation_id": conversation_id}))
        stack.chat(session, "thanks, waiting")
        while True:  # the customer's message reaches the agent live
            frame = json.loads(ws.recv(timeout=60))
            if frame["type"] == "message" and frame["message"]["text"] == "thanks, waiting":
                break

    sent = httpx.post(
        f"{stack.base_url}/api/agent/conversations/{conversation_id}/messages",
        json={"text": "Hello! I can help with your return."},
        headers=agent,
    )
    assert sent.status_code == 201 and sent.json()["sender"] == "agent"
    history = httpx.get(f"{stack.base_url}/api/chat/history", params={"session": session}).json()
    assert history["messages"][-1]["text"] == "Hello! I can help with your return."
    resolved = httpx.post(f"{stack.base_url}/api/agent/conversations/{conversation_id}/resolve", headers=agent)
    assert resolved.json()["conversation"]["status"] == "resolved"
    again = httpx.post(
        f"{stack.base_url}/api/agent/conversations/{conversation_id}/messages", json={"text": "late"}, headers=agent
    )
    assert again.status_code == 409
    missing = httpx.get(f"{stack.base_url}/api/agent/conversations/nope", headers=agent)
    assert missing.status_code == 404
