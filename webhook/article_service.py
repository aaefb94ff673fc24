"""Editing the help centre: every change is saved with its history and reaches search at once.

The store keeps the versions; after each change the one translation concerned is
re-read and pushed into the in-process knowledge base (``upsert``/``remove``),
so a published edit is searchable as soon as its few texts are embedded
(milliseconds), with no rebuild. The index files are re-saved shortly after the
last change, and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.search import KnowledgeBase, SearchResult
from webhook.store import articles as repo
from webhook.store.database import Database
from webhook.store.schema import ArticleRecord, ArticleVersion

log = logging.getLogger(__name__)
T = TypeVar("T")


class ArticleService:
    def __init__(self, db: Database, kb: KnowledgeBase, index_dir: Path | None, save_delay_s: float = 2.0) -> None:
        self.db = db
        self.kb = kb
        self.index_dir = index_dir
        self.save_delay_s = save_delay_s
        self._save_task: asyncio.Task[None] | None = None
        self._dirty = False

    # -- reading --------------------------------------------------------------------
    async def list_articles(
        self,
        status: str | None = None,
        lang: str | None = None,
        query: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[ArticleRecord]:
        async with self.db.session() as session:
            return await repo.list_articles(session, status, lang, query, limit, offset)

    async def translations(self, key: str) -> list[ArticleRecord]:
        async with self.db.session() as session:
            return await repo.translations(session, key)

    async def versions(self, key: str, lang: str) -> list[ArticleVersion]:
        async with self.db.session() as session:
            return await repo.versions(session, key, lang)

    async def search(self, query: str, lang: str | None = None, limit: int = 3) -> SearchResult:
        return await asyncio.to_thread(self.kb.search, query, lang, limit)

    # -- changing -------------------------------------------------------------------
    async def _change(self, key: str, lang: str, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run one store operation, commit it, then bring that translation's index entry in line."""
        async with self.db.session() as session:
            result = await operation(session)
            await session.commit()
        await self._refresh(key, lang)
        return result

    async def save(
        self,
        key: str,
        lang: str,
        *,
        title: str,
        body: str,
        questions: Sequence[str] = (),
        tags: Sequence[str] = (),
        author: str | None = None,
        publish: bool = False,
    ) -> tuple[ArticleRecord, bool]:
        return await self._change(
            key,
            lang,
            lambda s: repo.save(
                s, key, lang, title=title, body=body, questions=questions, tags=tags, author=author, publish=publish
            ),
        )

    async def publish(self, key: str, lang: str, author: str | None = None) -> ArticleRecord:
        return await self._change(key, lang, lambda s: repo.publish(s, key, lang, author))

    async def archive(self, key: str, lang: str, author: str | None = None) -> ArticleRecord:
        return await self._change(key, lang, lambda s: repo.archive(s, key, lang, author))

    async def rollback(self, key: str, lang: str, version: int, author: str | None = None) -> ArticleRecord:
        return await self._change(key, lang, lambda s: repo.rollback(s, key, lang, version, author))

    async def remove(self, key: str, lang: str) -> None:
        await self._change(key, lang, lambda s: repo.remove(s, key, lang))

    async def _refresh(self, key: str, lang: str) -> None:
        """Bring the index in line with what is live for this one translation."""
        async with self.db.session() as session:
            live = await repo.live_article(session, key, lang)
        if live is None:
            await asyncio.to_thread(self.kb.remove, key, lang)
        else:
            await asyncio.to_thread(self.kb.upsert, live)
        self._schedule_save()

    # -- persisting the index -----------------------------------------------------------
    def _schedule_save(self) -> None:
        if self.index_dir is None:
            return
        self._dirty = True
        if self._save_task is not None:
            self._save_task.cancel()
        self._save_task = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(self.save_delay_s)
        await self.flush()

    async def flush(self) -> None:
        """Write the index now if it changed since the last save."""
        if self._dirty and self.index_dir is not None:
            self._dirty = False
            await asyncio.to_thread(self.kb.save, self.index_dir)
            log.info("index saved to %s", self.index_dir)
