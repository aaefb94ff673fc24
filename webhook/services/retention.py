"""Retention: conversations resolved longer ago than ``RETENTION_DAYS`` are erased, daily.

Each is stripped to its anonymous skeleton as an erasure on request does
(:mod:`webhook.store.erasure`: the text, notes, comments and Rasa's tracker go; the
figures on ``/metrics`` stay), then customers left with nothing are erased, and so
are processed Telegram updates older than the cutoff. Each transaction records what
it erased in the audit log (``retention.erased``, counts only).

The task runs in the web process. With several workers, each tries once an hour to
claim the day's run (a row in ``scheduled_runs``, inserted with ON CONFLICT DO
NOTHING); the one whose insert lands runs it, so the day's run happens once. A run
that fails is not retried that day: the next day's run covers everything it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from webhook.runtime.tracker_store import count_tracker_events, erase_trackers
from webhook.store import audit
from webhook.store import retention as repo
from webhook.store.database import Database
from webhook.store.erasure import ErasureCounts, anonymise_conversations, erase_customer

log = logging.getLogger(__name__)

BATCH = 200  # conversations per transaction


class RetentionReport(BaseModel):
    """What one run erased (or, as a dry run, would erase)."""

    cutoff: datetime
    dry_run: bool
    conversations: int
    customers: int
    telegram_updates: int
    tracker_events: int
    deleted: dict[str, int] = {}
    anonymised: dict[str, int] = {}


class Retention:
    """Erases what is past keeping; :meth:`start` runs it daily in the background."""

    def __init__(self, db: Database, tracker_store: str | Path, days: int, check_every_s: float = 3600.0) -> None:
        self.db = db
        self.tracker_store = tracker_store
        self.days = days
        self.check_every_s = check_every_s
        self._task: asyncio.Task[None] | None = None

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    async def run(
        self, now: datetime | None = None, dry_run: bool = False, actor: str = audit.SYSTEM
    ) -> RetentionReport:
        """Erase (or with ``dry_run`` count) what was closed before the cutoff."""
        if self.days <= 0:
            raise ValueError("retention is off (RETENTION_DAYS=0)")
        now = now or datetime.now(UTC)
        cutoff = self.cutoff(now)
        if dry_run:
            return await self._preview(cutoff)
        total, conversations = ErasureCounts(), 0
        while True:
            async with self.db.session() as session:
                ids = await repo.expired_conversations(session, cutoff, BATCH)
                if not ids:
                    break
                trackers = await erase_trackers(self.tracker_store, ids)
                counts = await anonymise_conversations(session, ids, now)
                counts.deleted["tracker_events"] += trackers
                detail = {"cutoff": cutoff.isoformat(), "conversations": len(ids), **counts.as_json()}
                await audit.record(session, repo.RETENTION_ACTION, actor=actor, detail=detail)
                await session.commit()
            total.add(counts)
            conversations += len(ids)
        customers, updates = await self._erase_the_rest(cutoff, actor, total)
        figures = total.as_json()
        return RetentionReport(
            cutoff=cutoff,
            dry_run=False,
            conversations=conversations,
            customers=customers,
            telegram_updates=updates,
            tracker_events=total.deleted["tracker_events"],
            deleted=figures["deleted"],
            anonymised=figures["anonymised"],
        )

    async def _erase_the_rest(self, cutoff: datetime, actor: str, total: ErasureCounts) -> tuple[int, int]:
        """Customers left with nothing, and old Telegram updates, in one transaction."""
        async with self.db.session() as session:
            counts = ErasureCounts()
            customers = await repo.customers_left_with_nothing(session, cutoff, None)
            for customer in customers:
                counts.add(await erase_customer(session, customer))
            updates = await repo.delete_old_telegram_updates(session, cutoff)
            counts.deleted["telegram_updates"] += updates
            if customers or updates:
                detail = {"cutoff": cutoff.isoformat(), "conversations": 0, "customers": len(customers)}
                await audit.record(session, repo.RETENTION_ACTION, actor=actor, detail=detail | counts.as_json())
            await session.commit()
        total.add(counts)
        return len(customers), counts.deleted["telegram_updates"]

    async def _preview(self, cutoff: datetime) -> RetentionReport:
        async with self.db.session() as session:
            ids = await repo.all_expired_conversations(session, cutoff)
            customers = await repo.customers_left_with_nothing(session, cutoff, None)
            updates = await repo.count_old_telegram_updates(session, cutoff)
        trackers = await count_tracker_events(self.tracker_store, ids)
        return RetentionReport(
            cutoff=cutoff,
            dry_run=True,
            conversations=len(ids),
            customers=len(customers),
            telegram_updates=updates,
            tracker_events=trackers,
        )

    async def run_daily(self, now: datetime | None = None) -> RetentionReport | None:
        """Today's run if this worker claims it first; None when another worker (or an earlier try) has it."""
        now = now or datetime.now(UTC)
        period = now.date().isoformat()
        async with self.db.session() as session:
            claimed = await repo.claim_run(session, repo.RETENTION_TASK, period)
            await session.commit()
        if not claimed:
            return None
        report = await self.run(now)
        async with self.db.session() as session:
            await repo.finish_run(session, repo.RETENTION_TASK, period, report.model_dump(mode="json"))
            await session.commit()
        return report

    # -- in the background ---------------------------------------------------------------
    async def start(self) -> None:
        if self.days > 0 and self._task is None:
            self._task = asyncio.create_task(self._forever(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                report = await self.run_daily()
                if report is not None:
                    log.info(
                        "retention: erased %d conversation(s) and %d customer(s) closed before %s",
                        report.conversations,
                        report.customers,
                        report.cutoff.date().isoformat(),
                    )
            except Exception:
                log.exception("retention: today's run failed; tomorrow's covers what it missed")
            await asyncio.sleep(self.check_every_s)
