"""Article versions on SQLite and, with TEST_POSTGRES_URL, PostgreSQL."""

import pytest

from knowledge_base.articles import Article, ArticleSet
from webhook.store import articles as repo


async def _save(db, title, body="Body.", publish=False, key="returns", lang="en", questions=()):
    async with db.session() as s:
        record, created = await repo.save(
            s, key, lang, title=title, body=body, questions=questions, author="ed", publish=publish
        )
        await s.commit()
        return record, created


async def _live(db, key="returns", lang="en"):
    async with db.session() as s:
        return await repo.live_article(s, key, lang)


async def test_a_draft_is_not_live_until_published(db):
    record, created = await _save(db, "How to return")
    assert created and record.version == 1 and record.status == "draft"
    assert await _live(db) is None
    async with db.session() as s:
        await repo.publish(s, "returns", "en")
        await s.commit()
    live = await _live(db)
    assert live.title == "How to return" and live.version == 1


async def test_editing_a_published_article_keeps_the_published_version_live(db):
    await _save(db, "Version one", publish=True)
    record, created = await _save(db, "Version two (draft)")
    assert not created and record.version == 2 and record.status == "draft"
    assert record.published_version == 1
    assert (await _live(db)).title == "Version one"
    async with db.session() as s:
        assert [a.title for a in await repo.published_articles(s)] == ["Version one"]


async def test_every_save_is_kept_and_a_rollback_is_a_new_version(db):
    await _save(db, "One", publish=True)
    await _save(db, "Two", publish=True)
    await _save(db, "Three", publish=True)
    async with db.session() as s:
        record = await repo.rollback(s, "returns", "en", 1, author="boss")
        await s.commit()
        history = await repo.versions(s, "returns", "en")
    assert record.version == 4 and record.published_version == 4 and record.title == "One"
    assert [(v.version, v.title, v.note) for v in history] == [
        (4, "One", "rollback to 1"),
        (3, "Three", "edit"),
        (2, "Two", "edit"),
        (1, "One", "edit"),
    ]
    assert (await _live(db)).title == "One"


async def test_archive_hides_and_publish_brings_back(db):
    await _save(db, "Live", publish=True)
    async with db.session() as s:
        archived = await repo.archive(s, "returns", "en")
        await s.commit()
    assert archived.status == "archived" and await _live(db) is None
    async with db.session() as s:
        await repo.publish(s, "returns", "en")
        await s.commit()
    assert (await _live(db)).title == "Live"


async def test_delete_removes_the_translation_and_its_history(db):
    await _save(db, "Gone soon", publish=True)
    await _save(db, "Stays", publish=True, lang="fa")
    async with db.session() as s:
        await repo.remove(s, "returns", "en")
        await s.commit()
        assert await repo.get(s, "returns", "en") is None
        with pytest.raises(repo.ArticleNotFound):
            await repo.versions(s, "returns", "en")
        assert [a.lang for a in await repo.published_articles(s)] == ["fa"]


async def test_missing_articles_and_versions_are_reported(db):
    async with db.session() as s:
        with pytest.raises(repo.ArticleNotFound):
            await repo.publish(s, "nope", "en")
    await _save(db, "One")
    async with db.session() as s:
        with pytest.raises(repo.VersionNotFound):
            await repo.rollback(s, "returns", "en", 9)


async def test_import_publishes_new_and_changed_translations_only(db):
    first = ArticleSet()
    first.add(Article("a", "en", "Title", "Body", ("q1",), ("tag",)))
    first.add(Article("a", "fa", "عنوان", "متن", ()))
    async with db.session() as s:
        assert await repo.import_articles(s, first) == repo.ImportCounts(created=2)
        await s.commit()
    second = ArticleSet()
    second.add(Article("a", "en", "Title", "A new body", ("q1",), ("tag",)))
    second.add(Article("a", "fa", "عنوان", "متن", ()))
    async with db.session() as s:
        assert await repo.import_articles(s, second) == repo.ImportCounts(updated=1, unchanged=1)
        await s.commit()
        loaded = await repo.published_articles(s)
    assert loaded.by_key["a"]["en"].body == "A new body"
    assert loaded.by_key["a"]["en"].version == 2
    assert loaded.by_key["a"]["fa"].version == 1
