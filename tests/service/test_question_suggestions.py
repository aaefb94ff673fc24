"""Questions learnt from conversations: counted in the store, and accepted or dismissed through the
editor API, after which search matches them at once. (Recorded from real chats with Rasa: tests/stack.)"""

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from knowledge_base.articles import load_markdown_dir
from tests.conftest import DEMO, EDITOR_AUTH, LOCKER_ARTICLE, editor_settings
from webhook.app import create_app
from webhook.domain.learning import Evidence, Kind
from webhook.store import articles as article_store
from webhook.store import suggestions
from webhook.store.database import Database
from webhook.store.schema import QuestionSuggestion


async def _with_demo(db) -> None:
    async with db.session() as s:
        await article_store.import_articles(s, load_markdown_dir(DEMO))
        await s.commit()


async def _suggestions(db) -> list[QuestionSuggestion]:
    async with db.session() as s:
        return list(await s.scalars(select(QuestionSuggestion).order_by(QuestionSuggestion.id)))


# -- the store ------------------------------------------------------------------------
async def test_each_conversation_counts_once_per_kind_and_unhelpful_never_creates(db):
    await _with_demo(db)
    found = Evidence("track-order", "en", "Where has my parcel got to?", "confirmed")
    async with db.session() as s:
        assert await suggestions.record(s, Evidence("track-order", "en", "parcel gone?", "unhelpful"), "c1") is None
        first = await suggestions.record(s, found, "c1")
        again = await suggestions.record(s, found, "c1")
        await suggestions.record(s, Evidence("track-order", "en", "where has my parcel got to", "chosen"), "c1")
        await suggestions.record(s, Evidence("track-order", "en", "Where has my parcel got to", "unhelpful"), "c2")
        assert (
            await suggestions.record(s, Evidence("no-such-article", "en", "anything here?", "confirmed"), "c3") is None
        )
        await s.commit()
    assert first is again
    [row] = await _suggestions(db)
    assert (row.confirmed, row.chosen, row.unhelpful) == (1, 1, 1)
    assert row.support == 1


async def test_suggestions_are_listed_best_supported_first(db):
    await _with_demo(db)
    async with db.session() as s:
        for i in range(3):
            await suggestions.record(s, Evidence("track-order", "en", "where's my stuff", "confirmed"), f"a{i}")
        await suggestions.record(s, Evidence("refund-status", "en", "money back when", "chosen"), "b")
        await suggestions.record(s, Evidence("refund-status", "ar", "متى يعود مالي", "confirmed"), "c")
        await s.commit()
        listed = await suggestions.list_suggestions(s)
        assert listed[0].text == "where's my stuff"
        assert [r.text for r in await suggestions.list_suggestions(s, lang="ar")] == ["متى يعود مالي"]
        assert len(await suggestions.list_suggestions(s)) == 3


# -- the editor API -------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("suggestions")


@pytest.fixture(scope="module")
def client(workdir):
    with TestClient(create_app(editor_settings(workdir))) as c:
        yield c


def _learn(workdir, *found: tuple[str, str, str, Kind]) -> list[int]:
    """Record evidence in the app's database as conversations would, and return the suggestions' ids."""

    async def go() -> list[int]:
        db = Database(f"sqlite:///{workdir / 'support.db'}")
        try:
            ids = []
            async with db.session() as s:
                for n, (key, lang, text, kind) in enumerate(found):
                    row = await suggestions.record(s, Evidence(key, lang, text, kind), f"conv-{uuid.uuid4().hex}-{n}")
                    assert row is not None
                    await s.flush()
                    ids.append(row.id)
                await s.commit()
            return ids
        finally:
            await db.dispose()

    return asyncio.run(go())


def _search(client, q, lang="en"):
    return client.get("/api/kb/search", params={"q": q, "lang": lang}).json()


def test_the_suggestions_need_the_editor_key(client):
    assert client.get("/api/kb/suggestions").status_code == 401
    assert client.post("/api/kb/suggestions/accept", json={"ids": [1]}).status_code == 401
    assert client.post("/api/kb/suggestions/dismiss", json={"ids": [1]}, headers={"X-API-Key": "no"}).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/kb/suggestions/accept", {"ids": []}),
        ("/api/kb/suggestions/accept", {"ids": ["x"]}),
        ("/api/kb/suggestions/dismiss", {}),
        ("/api/kb/suggestions/accept", {"ids": list(range(501))}),
    ],
)
def test_bad_requests_get_a_clear_422(client, path, body):
    response = client.post(path, json=body, headers=EDITOR_AUTH)
    assert response.status_code == 422 and response.json()["detail"]
    assert client.get("/api/kb/suggestions", params={"status": "maybe"}, headers=EDITOR_AUTH).status_code == 422


def test_an_accepted_question_is_searchable_at_once_and_kept_in_the_history(client, workdir):
    assert client.put("/api/kb/articles/luggage-locker/en", json=LOCKER_ARTICLE, headers=EDITOR_AUTH).status_code == 201
    learnt = "is there a cloakroom for my bags while I shop"
    before = _search(client, learnt)
    assert all(c["matched"] != learnt for c in before["candidates"])
    [sid] = _learn(workdir, ("luggage-locker", "en", learnt, "confirmed"))
    listed = client.get("/api/kb/suggestions", params={"key": "luggage-locker"}, headers=EDITOR_AUTH).json()
    assert [(s["id"], s["text"], s["confirmed"], s["status"]) for s in listed] == [(sid, learnt, 1, "pending")]
    assert len(listed[0]["conversations"]) == 1 and listed[0]["support"] == 1

    accepted = client.post("/api/kb/suggestions/accept", json={"ids": [sid], "author": "sam"}, headers=EDITOR_AUTH)
    assert accepted.status_code == 200, accepted.text
    [article] = accepted.json()["articles"]
    assert article["questions"][-1] == learnt and article["status"] == "published"
    assert article["version"] == article["published_version"] == 2
    top = _search(client, learnt)["candidates"][0]
    assert (top["key"], top["matched"]) == ("luggage-locker", learnt)
    history = client.get("/api/kb/articles/luggage-locker/en/versions", headers=EDITOR_AUTH).json()
    latest = next(v for v in history if v["version"] == 2)
    assert "learnt from conversations" in latest["note"] and latest["author"] == "sam"

    done = client.get("/api/kb/suggestions", params={"status": "accepted"}, headers=EDITOR_AUTH).json()
    assert [(s["id"], s["decided_by"]) for s in done] == [(sid, "sam")]
    again = client.post("/api/kb/suggestions/accept", json={"ids": [sid]}, headers=EDITOR_AUTH)
    assert again.status_code == 409 and "already decided" in again.json()["detail"]


def test_several_suggestions_for_one_translation_make_one_version(client, workdir):
    ids = _learn(
        workdir,
        ("gift-cards", "fa", "کارت هدیه تا کی اعتبار داره", "confirmed"),
        ("gift-cards", "fa", "میشه کارت هدیه رو برای دوستم بفرستم", "chosen"),
    )
    before = client.get("/api/kb/articles/gift-cards", headers=EDITOR_AUTH).json()
    version = next(a["version"] for a in before if a["lang"] == "fa")
    response = client.post("/api/kb/suggestions/accept", json={"ids": ids}, headers=EDITOR_AUTH)
    [article] = response.json()["articles"]
    assert article["version"] == version + 1
    assert article["questions"][-2:] == ["کارت هدیه تا کی اعتبار داره", "میشه کارت هدیه رو برای دوستم بفرستم"]


def test_a_pending_draft_takes_the_question_and_stays_a_draft(client, workdir):
    draft = {**LOCKER_ARTICLE, "title": "Lockers (draft)", "publish": False}
    client.put("/api/kb/articles/store-lockers/en", json={**draft, "publish": True}, headers=EDITOR_AUTH)
    client.put("/api/kb/articles/store-lockers/en", json=draft, headers=EDITOR_AUTH)  # v2, a draft over v1
    learnt = "can I lock up my backpack somewhere in your store"
    [sid] = _learn(workdir, ("store-lockers", "en", learnt, "confirmed"))
    [article] = client.post("/api/kb/suggestions/accept", json={"ids": [sid]}, headers=EDITOR_AUTH).json()["articles"]
    assert (article["status"], article["version"], article["published_version"]) == ("draft", 3, 1)
    assert all(c["matched"] != learnt for c in _search(client, learnt)["candidates"])
    client.post("/api/kb/articles/store-lockers/en/publish", headers=EDITOR_AUTH)
    assert any(c["matched"] == learnt for c in _search(client, learnt)["candidates"])


def test_dismissed_suggestions_stay_dismissed(client, workdir):
    [sid] = _learn(workdir, ("contact-hours", "en", "are you people ever awake", "confirmed"))
    dismissed = client.post("/api/kb/suggestions/dismiss", json={"ids": [sid], "author": "sam"}, headers=EDITOR_AUTH)
    assert [(s["id"], s["status"]) for s in dismissed.json()] == [(sid, "dismissed")]
    _learn(workdir, ("contact-hours", "en", "Are you people ever awake?", "confirmed"))  # asked again later
    rows = client.get("/api/kb/suggestions", params={"status": "all", "key": "contact-hours"}, headers=EDITOR_AUTH)
    assert [(s["id"], s["status"], s["confirmed"]) for s in rows.json()] == [(sid, "dismissed", 2)]
    assert client.post("/api/kb/suggestions/accept", json={"ids": [sid]}, headers=EDITOR_AUTH).status_code == 409


def test_unknown_ids_and_vanished_articles(client, workdir):
    missing = client.post("/api/kb/suggestions/accept", json={"ids": [999_999]}, headers=EDITOR_AUTH)
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    client.put("/api/kb/articles/pop-up-shop/en", json={**LOCKER_ARTICLE, "title": "Pop-up shop"}, headers=EDITOR_AUTH)
    good, sid = _learn(
        workdir,
        ("track-order", "en", "has my parcel left the warehouse", "confirmed"),
        ("pop-up-shop", "en", "where is the summer pop-up", "confirmed"),
    )
    assert client.delete("/api/kb/articles/pop-up-shop/en", headers=EDITOR_AUTH).status_code == 204
    gone = client.post("/api/kb/suggestions/accept", json={"ids": [good, sid]}, headers=EDITOR_AUTH)
    assert gone.status_code == 409 and "pop-up-shop" in gone.json()["detail"]
    # checked before anything changed: the other suggestion and its article are as they were
    pending = client.get("/api/kb/suggestions", params={"key": "track-order"}, headers=EDITOR_AUTH).json()
    assert [s["id"] for s in pending] == [good]
    track = client.get("/api/kb/articles/track-order", headers=EDITOR_AUTH).json()
    assert all("has my parcel left the warehouse" not in a["questions"] for a in track)


def test_an_article_has_at_most_a_hundred_questions(client, workdir):
    full = {**LOCKER_ARTICLE, "title": "Loyalty points", "questions": [f"points question {i}" for i in range(100)]}
    client.put("/api/kb/articles/loyalty-points/en", json=full, headers=EDITOR_AUTH)
    [sid] = _learn(workdir, ("loyalty-points", "en", "do my points expire", "confirmed"))
    response = client.post("/api/kb/suggestions/accept", json={"ids": [sid]}, headers=EDITOR_AUTH)
    assert response.status_code == 409 and "100" in response.json()["detail"]
