"""Editing the help centre: every change is saved with its history and reaches search at once.

The store keeps the versions; after each change the one translation concerned is
re-read and pushed into the in-process knowledge base (``upsert``/``remove``),
so a published edit is searchable as soon as its few texts are embedded
(milliseconds), with no rebuild. The index files are re-saved shortly after the
last change, and at shutdown.

With several workers each holds its own index. A change is announced on the
event bus (topic ``kb``) and every other worker re-reads that translation from
the store. Events can be missed (Redis restarted), and the command-line importer
writes to the store behind the workers' backs, so each worker also compares its
index with the store every ``reconcile_s`` seconds and fixes what differs.

Calibration (fusion weights and thresholds) is shared the same way: the worker that
recalibrates writes the calibration file and announces it; the others re-read the
file on the event, and at each reconcile if it changed (a missed event, or
``python -m webhook calibrate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import apply_calibration, calibrate_knowledge_base
from knowledge_base.search import KnowledgeBase, SearchResult
from webhook.domain.enums import ArticleStatus, SuggestionStatus
from webhook.domain.errors import SuggestionConflict
from webhook.runtime.events import KB_TOPIC, EventBus, Subscription
from webhook.services.kb_events import (
    ArticleChanged,
    CalibrationChanged,
    KbEvent,
    ModelChanged,
    as_event,
    read_kb_event,
)
from webhook.store import articles as repo
from webhook.store import audit, suggestions
from webhook.store.database import Database
from webhook.store.schema import ArticleRecord, ArticleVersion, QuestionSuggestion, User

log = logging.getLogger(__name__)
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


class ArticleService:
    """The help centre's articles: read and change them in the store, and keep this worker's index in line."""

    def __init__(
        self,
        db: Database,
        kb: KnowledgeBase,
        index_dir: Path | None,
        save_delay_s: float = 2.0,
        bus: EventBus | None = None,
        reconcile_s: float = 30.0,
        calibration_file: Path | None = None,
    ) -> None:
        self.db = db
        self.kb = kb
        self.index_dir = index_dir
        self.save_delay_s = save_delay_s
        self.bus = bus
        self.reconcile_s = reconcile_s
        self.origin = uuid.uuid4().hex  # tells this worker's own announcements from others'
        # set by the app: load the model another worker switched to (webhook/services/optimise.py)
        self.on_model_change: Callable[[str, ArticleSet], Awaitable[None]] | None = None
        self._save_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = False
        self.calibration_file = calibration_file
        self._calibration_seen = self._calibration_stamp()  # the app read this file at start

    async def start(self) -> None:
        """Follow other workers' changes, and reconcile with the store now and then."""
        if self.bus is not None:
            subscription = self.bus.subscribe(KB_TOPIC)
            self._tasks.append(asyncio.create_task(self._follow(subscription), name="kb-follow"))
        if self.reconcile_s > 0:
            self._tasks.append(asyncio.create_task(self._reconcile_forever(), name="kb-reconcile"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.flush()

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

    async def _refresh(self, key: str, lang: str, save: bool = True) -> None:
        """Bring the index in line with what is live for this one translation."""
        async with self.db.session() as session:
            live = await repo.live_article(session, key, lang)
        if live is None:
            await asyncio.to_thread(self.kb.remove, key, lang)
        else:
            await asyncio.to_thread(self.kb.upsert, live)
        if save:  # the worker that made the change saves; the others only follow it
            self._schedule_save()

    async def _follow(self, subscription: Subscription) -> None:
        """Apply the other workers' announcements (``kb_events``) to this worker's index."""
        try:
            async for event in subscription:
                if event.get("origin") == self.origin:
                    continue
                try:
                    await self._apply(read_kb_event(event))
                except Exception:  # one bad event must not stop the follower; reconcile repairs
                    log.exception("could not follow the change of %s", event)
        finally:
            subscription.close()

    async def _apply(self, change: KbEvent) -> None:
        if isinstance(change, CalibrationChanged):
            await asyncio.to_thread(self.reload_calibration)
        elif isinstance(change, ModelChanged):
            if self.on_model_change is not None:
                async with self.db.session() as session:
                    live = await repo.published_articles(session)
                await self.on_model_change(change.model, live)
        else:
            await self._refresh(change.key, change.lang, save=False)

    async def reconcile(self) -> int:
        """Compare the index with the published articles in the store; fix and return the differences."""
        async with self.db.session() as session:
            live = await repo.published_articles(session)
        changed = await asyncio.to_thread(self.kb.sync, live)
        if changed:
            log.info("knowledge base: %d translation(s) changed elsewhere were brought up to date", changed)
        return changed

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_s)
            try:
                await self.reconcile()
                await asyncio.to_thread(self.kb.compact)
                await asyncio.to_thread(self.reload_calibration)
            except Exception:
                log.exception("knowledge base reconcile failed; trying again in %.0f s", self.reconcile_s)

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

    # -- calibration --------------------------------------------------------------------
    async def calibrate(self, questions: list[dict[str, Any]], source: str) -> dict[str, Any]:
        """Choose weights and thresholds on labelled questions, apply and save them, and tell the other workers."""
        record = await asyncio.to_thread(calibrate_knowledge_base, self.kb, questions, self.calibration_file, source)
        self._calibration_seen = self._calibration_stamp()
        if self.bus is not None and self.calibration_file is not None:
            change = CalibrationChanged(str(self.calibration_file), self.origin)
            await self.bus.publish(KB_TOPIC, as_event(change))
        return record

    def _calibration_stamp(self) -> int | None:
        try:
            return self.calibration_file.stat().st_mtime_ns if self.calibration_file else None
        except OSError:
            return None

    def reload_calibration(self) -> bool:
        """Apply the calibration file if it changed since this worker last read it; returns whether it did."""
        stamp = self._calibration_stamp()
        if stamp is None or stamp == self._calibration_seen or self.calibration_file is None:
            return False
        if not apply_calibration(self.kb, self.calibration_file):
            return False  # half written or broken: keep what is in force, look again later
        self._calibration_seen = stamp
        log.info("calibration reloaded from %s: %s, %s", self.calibration_file, self.kb.weights, self.kb.thresholds)
        return True

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
        await asyncio.to_thread(self.kb.compact)  # the edits have settled: exact lexical weights again
        await self.flush()

    async def flush(self) -> None:
        """Write the index now if it changed since the last save."""
        if self._dirty and self.index_dir is not None:
            self._dirty = False
            await asyncio.to_thread(self.kb.save, self.index_dir)
            log.info("index saved to %s", self.index_dir)


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
