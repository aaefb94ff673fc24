"""Keeping a worker's in-process index in line with the store, the other workers and the index files.

With several workers each holds its own index. A change is announced on the
event bus (topic ``kb``) and every other worker re-reads that translation from
the store. Events can be missed (Redis restarted), and the command-line importer
writes to the store behind the workers' backs, so each worker also compares its
index with the store every ``reconcile_s`` seconds and fixes what differs.

Calibration (fusion weights and thresholds) is shared the same way: the worker that
recalibrates writes the calibration file and announces it; the others re-read the
file on the event, and at each reconcile if it changed (a missed event, or
``python -m webhook calibrate``).

The index files are re-saved shortly after the last change, and at shutdown.
The editing operations that call for all this are ``ArticleService``'s (``services/articles.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import apply_calibration, calibrate_knowledge_base
from knowledge_base.search import KnowledgeBase
from webhook.runtime.events import KB_TOPIC, EventBus, Subscription
from webhook.services.kb_events import CalibrationChanged, KbEvent, ModelChanged, as_event, read_kb_event
from webhook.store import articles as repo
from webhook.store.database import Database

log = logging.getLogger(__name__)


class ArticleIndexKeeper:
    """This worker's index of the published articles: refreshed per translation, followed, reconciled, saved."""

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

    # -- following the store and the other workers ---------------------------------------
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
