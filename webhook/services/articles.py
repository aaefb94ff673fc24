"""Editing the help centre: every change is saved with its history and reaches search at once.

The store keeps the versions; after each change the one translation concerned is
re-read and pushed into the in-process knowledge base (``upsert``/``remove``),
so a published edit is searchable as soon as its few texts are embedded
(milliseconds), with no rebuild. How the index then follows the other workers, is
reconciled with the store, recalibrated and saved is ``ArticleIndexKeeper``'s part
(``services/article_index.py``), which ``ArticleService`` extends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.search import SearchResult
from webhook.domain.enums import ArticleStatus, SuggestionStatus
from webhook.domain.errors import SuggestionConflict
from webhook.runtime.events import KB_TOPIC
from webhook.services.article_index import ArticleIndexKeeper
from webhook.services.kb_events import ArticleChanged, as_event
from webhook.store import articles as repo
from webhook.store import audit, suggestions
from webhook.store.schema import ArticleRecord, ArticleVersion, QuestionSuggestion, User

T = TypeVar("T")

MAX_QUESTIONS = 100  # alternative questions per translation
API_KEY_ACTOR = "api-key"  # the audit log's actor for a change made with EDITOR_API_KEY and no signed-in user


async def _audited(
    session: AsyncSession, action: str, actor: User | str | None, record: ArticleRecord, **detail: Any
) -> ArticleRecord:
    """Record a publish or rollback in the audit log, in the transaction that makes it."""
    target = f"article:{record.key}/{record.lang}"
    facts = {"version": record.version, "published_version": record.published_version, **detail}
    await audit.record(session, action, actor=actor or API_KEY_ACTOR, target=target, detail=facts)
    return record


class ArticleService(ArticleIndexKeeper):
    """The help centre's articles: read and change them in the store, and keep this worker's index in line."""

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
        if self.bus is not None:
            await self.bus.publish(KB_TOPIC, as_event(ArticleChanged(key, lang, self.origin)))
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
        actor: User | str | None = None,
    ) -> tuple[ArticleRecord, bool]:
        """Save a new version; one saved live is audited as ``article.published`` by ``actor``."""

        async def operation(s: AsyncSession) -> tuple[ArticleRecord, bool]:
            record, created = await repo.save(
                s, key, lang, title=title, body=body, questions=questions, tags=tags, author=author, publish=publish
            )
            if publish:
                await _audited(s, "article.published", actor, record, created=created)
            return record, created

        return await self._change(key, lang, operation)

    async def publish(
        self, key: str, lang: str, author: str | None = None, actor: User | str | None = None
    ) -> ArticleRecord:
        async def operation(s: AsyncSession) -> ArticleRecord:
            return await _audited(s, "article.published", actor, await repo.publish(s, key, lang, author))

        return await self._change(key, lang, operation)

    async def archive(self, key: str, lang: str, author: str | None = None) -> ArticleRecord:
        return await self._change(key, lang, lambda s: repo.archive(s, key, lang, author))

    async def rollback(
        self, key: str, lang: str, version: int, author: str | None = None, actor: User | str | None = None
    ) -> ArticleRecord:
        async def operation(s: AsyncSession) -> ArticleRecord:
            record = await repo.rollback(s, key, lang, version, author)
            return await _audited(s, "article.rolled_back", actor, record, to=version)

        return await self._change(key, lang, operation)

    async def remove(self, key: str, lang: str) -> None:
        await self._change(key, lang, lambda s: repo.remove(s, key, lang))

    # -- questions learnt from conversations ----------------------------------------------
    async def suggestions(
        self,
        status: str | None = SuggestionStatus.PENDING,
        key: str | None = None,
        lang: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[QuestionSuggestion]:
        async with self.db.session() as session:
            return await suggestions.list_suggestions(session, status, key, lang, limit, offset)

    async def accept_suggestions(self, ids: Sequence[int], editor: str | None = None) -> list[ArticleRecord]:
        """Add the suggested questions to their articles: one new version per translation.

        The version is live at once if the translation's latest version was (the
        index takes it within the request, like any edit); if an editor's draft is
        pending, the questions join the draft and go live when it is published.
        Everything is checked before anything changes; then each translation is one
        transaction, its version and its suggestions' status written together.
        """
        groups: dict[tuple[str, str], list[int]] = {}
        async with self.db.session() as session:
            rows = await suggestions.get_many(session, list(dict.fromkeys(ids)))
            for row in rows:
                groups.setdefault((row.key, row.lang), []).append(row.id)
            for (key, lang), group in groups.items():
                await _with_learnt(session, key, lang, group)
        changed = []
        for (key, lang), group in groups.items():

            async def learn(
                session: AsyncSession, key: str = key, lang: str = lang, group: list[int] = group
            ) -> ArticleRecord:
                record, questions, learnt = await _with_learnt(session, key, lang, group)  # again: others may act
                saved, _ = await repo.save(
                    session,
                    key,
                    lang,
                    title=record.title,
                    body=record.body,
                    questions=questions,
                    tags=list(record.tags or []),
                    author=editor,
                    publish=record.status == ArticleStatus.PUBLISHED,
                    note=f"{len(learnt)} question(s) learnt from conversations",
                )
                suggestions.decide(learnt, SuggestionStatus.ACCEPTED, editor)
                return saved

            changed.append(await self._change(key, lang, learn))
        return changed

    async def dismiss_suggestions(self, ids: Sequence[int], editor: str | None = None) -> list[QuestionSuggestion]:
        async with self.db.session() as session:
            rows = await suggestions.get_many(session, list(dict.fromkeys(ids)))
            _require_pending(rows)
            suggestions.decide(rows, SuggestionStatus.DISMISSED, editor)
            await session.commit()
            return rows


async def _with_learnt(
    session: AsyncSession, key: str, lang: str, ids: list[int]
) -> tuple[ArticleRecord, list[str], list[QuestionSuggestion]]:
    """The translation, its questions with the suggestions ``ids`` added, and those suggestions.

    SuggestionConflict when one is decided already, the translation is gone, or it
    would have more than ``MAX_QUESTIONS``.
    """
    learnt = await suggestions.get_many(session, ids)
    _require_pending(learnt)
    record = await repo.get(session, key, lang)
    if record is None:
        raise SuggestionConflict(f"the article {key!r} has no {lang!r} translation any more")
    have = suggestions.phrasings(record)
    questions = list(record.questions or []) + [r.text for r in learnt if r.normalized not in have]
    if len(questions) > MAX_QUESTIONS:
        raise SuggestionConflict(
            f"{key}/{lang} would have {len(questions)} alternative questions; the most is {MAX_QUESTIONS}"
        )
    return record, questions, learnt


def _require_pending(rows: Sequence[QuestionSuggestion]) -> None:
    decided = [f"{r.id} ({r.status})" for r in rows if r.status != SuggestionStatus.PENDING]
    if decided:
        raise SuggestionConflict(f"already decided: {', '.join(decided)}")
