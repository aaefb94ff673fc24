"""Rasa's action endpoint on the public port: only Rasa may call it, and only with so much.

The app in process with its lifespan (the knowledge base loaded, the actions configured);
the calls are what Rasa 3.6 sends (``bot/endpoints.yml`` gives it the ``X-Action-Token``
header). Issue 26: the endpoint was open to anyone and took a megabyte of text, which the
search kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rasa_sdk
from fastapi.testclient import TestClient

from tests.conftest import editor_settings
from tests.service.fake_rasa import Conversation, load_domain
from webhook.app import create_app
from webhook.channels import rasa_actions

TOKEN = "action-secret-for-tests"
LIMIT = 256 * 1024
MAX_CHARS = 500
URL = "/webhook/actions"


def action_call(text: str, action: str = "action_answer_question") -> dict[str, Any]:
    """One action call as Rasa makes it: the next action, the tracker with the customer's message, the domain."""
    domain = load_domain()
    conversation = Conversation("probe", {name: slot.get("initial_value") for name, slot in domain["slots"].items()})
    ranked = {"name": "ask_question", "confidence": 1.0}
    parse_data = {"intent": ranked, "intent_ranking": [ranked], "entities": [], "text": text, "metadata": {}}
    conversation.latest_message = parse_data
    conversation.apply([{"event": "user", "text": text, "parse_data": parse_data, "metadata": {}}])
    return {
        "next_action": action,
        "sender_id": "probe",
        "tracker": conversation.state(),
        "domain": domain,
        "version": rasa_sdk.__version__,
    }


@pytest.fixture(scope="module")
def actions_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    work: Path = tmp_path_factory.mktemp("action-endpoint")
    settings = editor_settings(
        work, action_endpoint_token=TOKEN, max_action_body_bytes=LIMIT, max_message_chars=MAX_CHARS
    )
    with TestClient(create_app(settings)) as client:
        yield client


def post(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post(URL, content=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize(
    "headers", [{}, {"X-Action-Token": ""}, {"X-Action-Token": "wrong"}, {"x-action-token": TOKEN + "x"}]
)
def test_a_call_without_the_secret_is_refused_before_its_body_is_read(
    actions_app: TestClient, headers: dict[str, str]
) -> None:
    for body in (json.dumps(action_call("how do I return an item?")).encode(), b"{not json", b"x" * (LIMIT + 1)):
        response = post(actions_app, body, **headers)
        assert response.status_code == 401, (headers, body[:20], response.text)  # not 200, 400 or 413: unread
    assert actions_app.get(URL, headers=headers).status_code == 401, "the list of actions is Rasa's too"


def test_rasa_with_the_secret_is_served(actions_app: TestClient) -> None:
    response = post(
        actions_app, json.dumps(action_call("how do I return an item?")).encode(), **{"X-Action-Token": TOKEN}
    )
    assert response.status_code == 200, response.text
    assert any(e.get("name") == "last_decision" for e in response.json()["events"])
    names = actions_app.get(URL, headers={"X-Action-Token": TOKEN})
    assert names.status_code == 200 and {"name": "action_answer_question"} in names.json()


def test_an_oversized_call_is_refused_with_413(actions_app: TestClient) -> None:
    auth = {"X-Action-Token": TOKEN}
    big = json.dumps(action_call("a" * LIMIT)).encode()
    assert len(big) > LIMIT
    declared = post(actions_app, big, **auth)
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed body is counted
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = actions_app.post(URL, content=chunks(), headers={"Content-Type": "application/json", **auth})
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert streamed.status_code == 413

    lying = post(actions_app, big, **auth, **{"Content-Length": str(LIMIT // 2)})  # a declared length proves nothing
    assert lying.status_code in (400, 413), lying.text


def test_malformed_calls_are_400_not_500(actions_app: TestClient) -> None:
    auth = {"X-Action-Token": TOKEN}
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 50_000):
        assert post(actions_app, body, **auth).status_code == 400, body[:10]


def test_the_action_searches_the_customers_text_clipped_to_the_message_limit(actions_app: TestClient) -> None:
    auth = {"X-Action-Token": TOKEN}
    text = "where is my parcel " * 2000  # 38,000 characters (twice in the tracker), under the body limit
    response = post(actions_app, json.dumps(action_call(text)).encode(), **auth)
    assert response.status_code == 200, response.text
    reports = [r["custom"] for r in response.json()["responses"] if r.get("custom")]
    assert reports, response.json()
    assert reports[0]["kb"]["query"] == text[:MAX_CHARS]


def test_without_a_configured_secret_every_call_is_refused_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rasa_actions, "_warned_unconfigured", False)
    app = create_app(editor_settings(tmp_path, action_endpoint_token=""))
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger=rasa_actions.__name__):
        body = json.dumps(action_call("how do I return an item?")).encode()
        for headers in ({}, {"X-Action-Token": ""}, {"X-Action-Token": "anything"}):
            assert post(client, body, **headers).status_code == 401
    said = [r for r in caplog.records if "ACTION_ENDPOINT_TOKEN is empty" in r.getMessage()]
    assert len(said) == 1
