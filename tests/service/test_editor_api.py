"""The editor API on a real app: auth, validation, and edits that reach search at once."""

import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import EDITOR_AUTH, EDITOR_KEY, editor_settings
from webhook.app import create_app
from webhook.settings import Settings

KEY = EDITOR_KEY
AUTH = EDITOR_AUTH
GIFT = {
    "title": "Do you offer gift wrapping?",
    "body": "Yes. Choose **gift wrapping** at checkout: 3.50 EUR per parcel, with a handwritten card.",
    "questions": ["can you wrap my present", "gift wrap option", "is there a gift box"],
    "tags": ["orders"],
}


def _settings(tmp_path, **extra) -> Settings:
    return editor_settings(tmp_path, **extra)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("editor")


@pytest.fixture(scope="module")
def client(workdir):
    with TestClient(create_app(_settings(workdir))) as c:
        yield c


def _top(client, q, lang=None):
    params = {"q": q, "limit": 3} | ({"lang": lang} if lang else {})
    return client.get("/api/kb/search", params=params).json()


def test_writing_needs_the_api_key(client):
    assert client.put("/api/kb/articles/gift-wrap/en", json=GIFT).status_code == 401
    bad = client.put("/api/kb/articles/gift-wrap/en", json=GIFT, headers={"X-API-Key": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
    assert client.get("/api/kb/articles").status_code == 401


def test_the_editor_api_is_off_without_a_configured_key(tmp_path):
    with TestClient(create_app(_settings(tmp_path, editor_api_key=""))) as c:
        response = c.get("/api/kb/articles", headers=AUTH)
    assert response.status_code == 403 and "EDITOR_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/kb/articles/Bad Key/en", GIFT),
        ("/api/kb/articles/..hidden/en", GIFT),
        ("/api/kb/articles/" + "k" * 121 + "/en", GIFT),
        ("/api/kb/articles/gift-wrap/de", GIFT),
        ("/api/kb/articles/gift-wrap/en", {**GIFT, "title": "  "}),
        ("/api/kb/articles/gift-wrap/en", {**GIFT, "body": ""}),
        ("/api/kb/articles/gift-wrap/en", {**GIFT, "questions": "not a list"}),
        ("/api/kb/articles/gift-wrap/en", {"body": "no title"}),
    ],
)
def test_invalid_articles_get_a_clear_422(client, path, body):
    response = client.put(path, json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request" and response.json()["detail"]


def test_keys_that_the_importers_accept_can_be_edited(client):
    """kb.jsonl ids such as BANKING77's keep their case and punctuation through the API."""
    for key, path in (
        ("Refund_not_showing_up", "Refund_not_showing_up"),
        ("reverted_card_payment?", "reverted_card_payment%3F"),
    ):
        created = client.put(f"/api/kb/articles/{path}/en", json={**GIFT, "title": key}, headers=AUTH)
        assert created.status_code in (200, 201), created.text
        assert created.json()["key"] == key
        assert client.get(f"/api/kb/articles/{path}", headers=AUTH).json()[0]["title"] == key
        assert client.delete(f"/api/kb/articles/{path}/en", headers=AUTH).status_code == 204


def test_search_endpoint_returns_decision_candidates_and_scores(client):
    result = _top(client, "how do I return an item?")
    assert result["decision"] == "answer"
    best = result["candidates"][0]
    assert best["key"] == "return-an-item" and best["lang"] == "en"
    assert set(best["signals"]) == {"dense", "centroid", "lexical"} and 0 < best["score"] <= 1
    assert client.get("/api/kb/search", params={"q": ""}).status_code == 422


def test_publish_edit_archive_rollback_and_delete_reach_search_at_once(client, workdir):
    # a draft is not searchable
    created = client.put("/api/kb/articles/gift-wrap/en", json=GIFT, headers=AUTH)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert all(c["key"] != "gift-wrap" for c in _top(client, "can you gift wrap my order?")["candidates"])

    # publish: searchable in the very next request
    started = time.perf_counter()
    assert client.post("/api/kb/articles/gift-wrap/en/publish", headers=AUTH).json()["status"] == "published"
    assert _top(client, "can you gift wrap my order?")["candidates"][0]["key"] == "gift-wrap"
    publish_to_found_ms = (time.perf_counter() - started) * 1000
    print(f"publish -> searchable: {publish_to_found_ms:.0f} ms")

    # edit and publish: the new phrasing is found, version 2
    edited = {
        **GIFT,
        "title": "Can I add a personal message to a gift?",
        "questions": ["write a card for a present"],
        "body": "Yes: add a personal message at checkout; we print it on a card.",
        "publish": True,
    }
    assert client.put("/api/kb/articles/gift-wrap/en", json=edited, headers=AUTH).json()["version"] == 2
    assert _top(client, "can I add a personal message card?")["candidates"][0]["key"] == "gift-wrap"

    # archive: gone from search
    assert client.post("/api/kb/articles/gift-wrap/en/archive", headers=AUTH).json()["status"] == "archived"
    assert all(c["key"] != "gift-wrap" for c in _top(client, "can I add a personal message card?")["candidates"])

    # rollback to version 1 and publish: the first wording is back, as version 3
    rolled = client.post("/api/kb/articles/gift-wrap/en/rollback", json={"version": 1}, headers=AUTH).json()
    assert rolled["version"] == 3 and rolled["title"] == GIFT["title"]
    client.post("/api/kb/articles/gift-wrap/en/publish", headers=AUTH)
    assert _top(client, "can you gift wrap my order?")["candidates"][0]["key"] == "gift-wrap"
    history = client.get("/api/kb/articles/gift-wrap/en/versions", headers=AUTH).json()
    assert [v["version"] for v in history] == [3, 2, 1] and history[0]["note"] == "rollback to 1"

    # delete: gone, and 404 afterwards
    assert client.delete("/api/kb/articles/gift-wrap/en", headers=AUTH).status_code == 204
    assert all(c["key"] != "gift-wrap" for c in _top(client, "can you gift wrap my order?")["candidates"])
    assert client.get("/api/kb/articles/gift-wrap", headers=AUTH).status_code == 404
    assert client.post("/api/kb/articles/gift-wrap/en/publish", headers=AUTH).status_code == 404


def test_a_deleted_article_does_not_come_back_after_a_restart(tmp_path):
    with TestClient(create_app(_settings(tmp_path))) as first:
        first.put("/api/kb/articles/gift-wrap/en", json={**GIFT, "publish": True}, headers=AUTH)
        assert _top(first, "can you gift wrap my order?")["candidates"][0]["key"] == "gift-wrap"
        assert first.delete("/api/kb/articles/gift-wrap/en", headers=AUTH).status_code == 204
    # shut down (the index was saved); a new process loads it from disk
    with TestClient(create_app(_settings(tmp_path))) as again:
        assert all(c["key"] != "gift-wrap" for c in _top(again, "can you gift wrap my order?")["candidates"])
        assert again.get("/api/kb/articles", params={"q": "gift-wrap"}, headers=AUTH).json() == []


def test_listing_filters_by_status_and_language(client):
    client.put(
        "/api/kb/articles/loyalty/fa",
        headers=AUTH,
        json={"title": "باشگاه مشتریان دارید؟", "body": "به‌زودی راه‌اندازی می‌شود."},
    )
    drafts = client.get("/api/kb/articles", params={"status": "draft"}, headers=AUTH).json()
    assert [(a["key"], a["lang"]) for a in drafts] == [("loyalty", "fa")]
    english = client.get("/api/kb/articles", params={"lang": "en", "limit": 500}, headers=AUTH).json()
    assert len(english) == 24 and all(a["lang"] == "en" for a in english)
    assert client.get("/api/kb/articles", params={"status": "bogus"}, headers=AUTH).status_code == 422


def test_times_carry_their_utc_offset(client):
    """The schema promises RFC 3339 date-times; SQLite hands back datetimes without a zone (found by fuzzing)."""
    from datetime import datetime, timedelta

    listed = client.get("/api/kb/articles", params={"lang": "en", "limit": 1}, headers=AUTH).json()
    key = listed[0]["key"]
    versions = client.get(f"/api/kb/articles/{key}/en/versions", headers=AUTH).json()
    translations = client.get(f"/api/kb/articles/{key}", headers=AUTH).json()
    moments = [listed[0]["updated_at"], versions[0]["created_at"], translations[0]["updated_at"]]
    assert all(datetime.fromisoformat(m).utcoffset() == timedelta(0) for m in moments), moments
