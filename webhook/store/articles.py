"""Help-centre articles in the database: the source of truth the index is built from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.articles import Article, ArticleSet
from webhook.store.schema import ArticleRecord


async def import_articles(session: AsyncSession, articles: ArticleSet) -> tuple[int, int]:
    """Insert new translations and update changed ones; returns (added, updated)."""
    existing = {(r.key, r.lang): r for r in await session.scalars(select(ArticleRecord))}
    added = updated = 0
    for article in articles:
        record = existing.get((article.key, article.lang))
        fields = {
            "title": article.title,
            "body": article.body,
            "questions": list(article.questions),
            "tags": list(article.tags),
        }
        if record is None:
            session.add(ArticleRecord(key=article.key, lang=article.lang, status="published", **fields))
            added += 1
        elif any(getattr(record, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(record, name, value)
            record.version += 1
            updated += 1
    await session.flush()
    return added, updated


async def published_articles(session: AsyncSession) -> ArticleSet:
    articles = ArticleSet()
    rows = await session.scalars(
        select(ArticleRecord).where(ArticleRecord.status == "published").order_by(ArticleRecord.key, ArticleRecord.lang)
    )
    for r in rows:
        articles.add(
            Article(
                key=r.key,
                lang=r.lang,
                title=r.title,
                body=r.body,
                questions=tuple(r.questions or ()),
                tags=tuple(r.tags or ()),
                version=r.version,
            )
        )
    return articles
