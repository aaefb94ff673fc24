"""Help-centre articles in the database: the source of truth the index is built from.

Each translation has a head row (``articles``: its latest version and status) and
an append-only history (``article_versions``). Customers see the version named by
``published_version``; archiving hides it; a rollback writes an old version's
content as a new version, so history is never rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.articles import Article, ArticleSet
from webhook.domain.enums import ArticleStatus
from webhook.domain.errors import ArticleNotFound, VersionNotFound
from webhook.store.schema import ArticleRecord, ArticleVersion


async def get(session: AsyncSession, key: str, lang: str) -> ArticleRecord | None:
    return await session.scalar(select(ArticleRecord).where(ArticleRecord.key == key, ArticleRecord.lang == lang))


async def _require(session: AsyncSession, key: str, lang: str) -> ArticleRecord:
    record = await get(session, key, lang)
    if record is None:
        raise ArticleNotFound(f"no article {key!r} in {lang!r}")
    return record


async def translations(session: AsyncSession, key: str) -> list[ArticleRecord]:
    return list(
        await session.scalars(select(ArticleRecord).where(ArticleRecord.key == key).order_by(ArticleRecord.lang))
    )


async def list_articles(
    session: AsyncSession,
    status: str | None = None,
    lang: str | None = None,
    query: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[ArticleRecord]:
    statement = select(ArticleRecord)
    if status:
        statement = statement.where(ArticleRecord.status == status)
    if lang:
        statement = statement.where(ArticleRecord.lang == lang)
    if query:
        pattern = f"%{query}%"
        statement = statement.where(or_(ArticleRecord.key.ilike(pattern), ArticleRecord.title.ilike(pattern)))
    statement = statement.order_by(ArticleRecord.key, ArticleRecord.lang).limit(limit).offset(offset)
    return list(await session.scalars(statement))


async def save(
    session: AsyncSession,
    key: str,
    lang: str,
    *,
    title: str,
    body: str,
    questions: Sequence[str] = (),
    tags: Sequence[str] = (),
    author: str | None = None,
    publish: bool = False,
    note: str = "edit",
) -> tuple[ArticleRecord, bool]:
    """Write a new version (creating the translation if needed); returns (head, created)."""
    record = await get(session, key, lang)
    created = record is None
    if record is None:
        record = ArticleRecord(key=key, lang=lang, version=0, status=ArticleStatus.DRAFT)
        session.add(record)
    record.version += 1
    record.title, record.body = title, body
    record.questions, record.tags = list(questions), list(tags)
    record.author = author
    if publish:
        record.published_version = record.version
        record.status = ArticleStatus.PUBLISHED
    elif record.status == ArticleStatus.PUBLISHED:
        record.status = ArticleStatus.DRAFT  # the new version is a draft; the published one stays live
    session.add(
        ArticleVersion(
            key=key,
            lang=lang,
            version=record.version,
            title=title,
            body=body,
            questions=list(questions),
            tags=list(tags),
            author=author,
            note=note,
        )
    )
    await session.flush()
    return record, created


async def publish(session: AsyncSession, key: str, lang: str, author: str | None = None) -> ArticleRecord:
    """Make the latest version live."""
    record = await _require(session, key, lang)
    record.published_version = record.version
    record.status = ArticleStatus.PUBLISHED
    record.author = author or record.author
    await session.flush()
    return record


async def archive(session: AsyncSession, key: str, lang: str, author: str | None = None) -> ArticleRecord:
    """Take the translation out of search; its history stays."""
    record = await _require(session, key, lang)
    record.status = ArticleStatus.ARCHIVED
    record.published_version = None
    record.author = author or record.author
    await session.flush()
    return record


async def _version(session: AsyncSession, key: str, lang: str, version: int) -> ArticleVersion | None:
    return await session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.key == key, ArticleVersion.lang == lang, ArticleVersion.version == version
        )
    )


async def rollback(
    session: AsyncSession, key: str, lang: str, version: int, author: str | None = None
) -> ArticleRecord:
    """Restore ``version``'s content as a new version; live at once if the translation was live."""
    record = await _require(session, key, lang)
    old = await _version(session, key, lang, version)
    if old is None:
        raise VersionNotFound(f"{key!r} in {lang!r} has no version {version}")
    was_live = record.published_version is not None
    record, _ = await save(
        session,
        key,
        lang,
        title=old.title,
        body=old.body,
        questions=old.questions,
        tags=old.tags,
        author=author,
        publish=was_live,
        note=f"rollback to {version}",
    )
    return record


async def remove(session: AsyncSession, key: str, lang: str) -> None:
    """Delete the translation and its history."""
    await _require(session, key, lang)
    await session.execute(delete(ArticleVersion).where(ArticleVersion.key == key, ArticleVersion.lang == lang))
    await session.execute(delete(ArticleRecord).where(ArticleRecord.key == key, ArticleRecord.lang == lang))


async def versions(session: AsyncSession, key: str, lang: str) -> list[ArticleVersion]:
    await _require(session, key, lang)
    return list(
        await session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.key == key, ArticleVersion.lang == lang)
            .order_by(ArticleVersion.version.desc())
        )
    )


def _as_article(version: ArticleVersion) -> Article:
    return Article(
        key=version.key,
        lang=version.lang,
        title=version.title,
        body=version.body,
        questions=tuple(version.questions or ()),
        tags=tuple(version.tags or ()),
        version=version.version,
    )


async def live_article(session: AsyncSession, key: str, lang: str) -> Article | None:
    """What customers see of one translation, or None when nothing is live."""
    record = await get(session, key, lang)
    if record is None or record.published_version is None or record.status == ArticleStatus.ARCHIVED:
        return None
    version = await _version(session, key, lang, record.published_version)
    return None if version is None else _as_article(version)


async def published_articles(session: AsyncSession) -> ArticleSet:
    """Every live translation, at its published version."""
    rows = await session.scalars(
        select(ArticleVersion)
        .join(
            ArticleRecord,
            and_(
                ArticleRecord.key == ArticleVersion.key,
                ArticleRecord.lang == ArticleVersion.lang,
                ArticleRecord.published_version == ArticleVersion.version,
            ),
        )
        .where(ArticleRecord.status != ArticleStatus.ARCHIVED)
        .order_by(ArticleVersion.key, ArticleVersion.lang)
    )
    articles = ArticleSet()
    for version in rows:
        articles.add(_as_article(version))
    return articles


async def latest_articles(session: AsyncSession) -> list[tuple[Article, str]]:
    """Every translation at its latest version (drafts and archived ones included), with its status."""
    records = await session.scalars(select(ArticleRecord).order_by(ArticleRecord.key, ArticleRecord.lang))
    return [
        (
            Article(
                key=r.key,
                lang=r.lang,
                title=r.title,
                body=r.body,
                questions=tuple(r.questions or ()),
                tags=tuple(r.tags or ()),
                version=r.version,
            ),
            str(r.status),
        )
        for r in records
    ]


def _same_content(record: ArticleRecord, article: Article) -> bool:
    head = (record.title, record.body, list(record.questions or []), list(record.tags or []))
    return head == (article.title, article.body, list(article.questions), list(article.tags))


@dataclass
class ImportCounts:
    """What an import did, per translation."""

    created: int = 0  # a new translation
    updated: int = 0  # a new version of an existing one
    published: int = 0  # content unchanged, but its draft was made live
    unchanged: int = 0

    def summary(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return text + (f", {self.published} unchanged drafts published" if self.published else "")


async def import_articles(
    session: AsyncSession,
    articles: ArticleSet,
    author: str = "import",
    *,
    publish: bool = True,
    note: str = "import",
) -> ImportCounts:
    """Write a new version of each translation whose content differs from its head.

    With ``publish`` the new versions go live, and so does an unchanged draft (so an
    import with ``publish=False`` followed by one with ``publish=True`` publishes);
    an archived translation with unchanged content stays archived. Nothing is committed here.
    """
    counts = ImportCounts()
    for article in articles:
        record = await get(session, article.key, article.lang)
        if record is not None and _same_content(record, article):
            if publish and record.status == ArticleStatus.DRAFT:
                record.published_version = record.version
                record.status = ArticleStatus.PUBLISHED
                record.author = author
                counts.published += 1
            else:
                counts.unchanged += 1
            continue
        _, created = await save(
            session,
            article.key,
            article.lang,
            title=article.title,
            body=article.body,
            questions=article.questions,
            tags=article.tags,
            author=author,
            publish=publish,
            note=note,
        )
        counts.created += created
        counts.updated += not created
    await session.flush()
    return counts
