"""Bad input gets a clear 4xx JSON error, and the service keeps working."""

import uuid

import httpx
import pytest


def _post(stack, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(f"{stack.base_url}/api/chat", content=content, headers={"content-type": content_type}, timeout=30)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b'{"session": "abcdefgh12", "text": ""}', 422, "invalid_message"),
        (b'{"session": "abcdefgh12", "text": "   \\n  "}', 422, "invalid_message"),
        (b'{"session": "abcdefgh12", "text": "' + b"a" * 4001 + b'"}', 422, "invalid_message"),
        (b'{"session": "abcdefgh12", "text": "caf\xc3\x28 broken utf-8"}', 400, "malformed_json"),
        (b'{"session": "abcdefgh12", "text": "unterminated', 400, "malformed_json"),
        (b"not json at all", 400, "malformed_json"),
        (b'{"text": "no session"}', 422, "invalid_request"),
        (b'{"session": "abcdefgh12", "text": 42}', 422, "invalid_request"),
        (b'{"session": "short", "text": "hi"}', 422, "invalid_request"),
        (b'["a", "list"]', 422, "invalid_request"),
        (b'{"session": "abcdefgh12", "text": "hi", "lang": "de"}', 422, "invalid_request"),
    ],
)
def test_bad_messages_get_a_clear_error(stack, body, status, error):
    response = _post(stack, body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["detail"]


def test_exactly_4000_characters_is_accepted(stack):
    response = stack.chat(uuid.uuid4().hex, "where is my order? " + "x" * (4000 - 19))
    assert response.status_code == 200


def test_a_rejected_message_is_not_stored(stack):
    session = uuid.uuid4().hex
    assert stack.chat(session, "").status_code == 422
    history = httpx.get(f"{stack.base_url}/api/chat/history", params={"session": session}).json()
    assert history == {"conversation_id": None, "messages": []}


def test_the_service_still_answers_after_bad_input(stack):
    for junk in (b"\xff\xfe\x00", b"{", b'{"session": null}'):
        assert 400 <= _post(stack, junk).status_code < 500
    response = stack.chat(uuid.uuid4().hex, "how long does delivery take?")
    assert response.status_code == 200 and response.json()["replies"]
