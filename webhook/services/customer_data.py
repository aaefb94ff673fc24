"""A customer's rights over their data: a copy of everything we hold, and erasure everywhere.

Both are recorded in the audit log in the same transaction as what they describe
(``customer.exported``, ``customer.erased``), with counts and never the data. Erasure
covers our database (:mod:`webhook.store.erasure`) and Rasa's tracker store
(:mod:`webhook.runtime.tracker_store`): the trackers go first, so that when the
tracker store is down nothing of ours is erased and the erasure can simply be repeated.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from webhook.domain.errors import CustomerNotFound, TrackerStoreUnavailable
from webhook.runtime.events import AGENTS_TOPIC, EventBus
from webhook.runtime.tracker_store import erase_trackers
from webhook.store import audit
from webhook.store.customer_data import find_customer, gather
from webhook.store.customer_records import CustomerExport, ErasureReport
from webhook.store.database import Database
from webhook.store.erasure import anonymise_conversations, erase_customer, lock_conversations
from webhook.store.schema import User

log = logging.getLogger(__name__)

NO_MATCH = "no customer matches this reference"


class CustomerData:
    """Export and erasure of one customer, found by any reference :func:`find_customer` takes."""

    def __init__(self, db: Database, tracker_store: str | Path, bus: EventBus | None = None) -> None:
        self.db = db
        self.tracker_store = tracker_store
        self.bus = bus  # tells the agents' consoles when an erasure closes a conversation in their queue

    async def export(self, ref: str, actor: User | str, ip: str | None = None) -> CustomerExport:
        """Everything we hold about the customer; raises CustomerNotFound."""
        async with self.db.session() as session:
            customer = await find_customer(session, ref)
            if customer is None:
                raise CustomerNotFound(NO_MATCH)
            export = await gather(session, customer)
            detail = {
                "conversations": len(export.conversations),
                "messages": sum(len(c.messages) for c in export.conversations),
            }
            await audit.record(
                session, "customer.exported", actor=actor, target=f"customer:{customer.id}", detail=detail, ip=ip
            )
            await session.commit()
        return export

    async def erase(self, ref: str, actor: User | str, ip: str | None = None) -> ErasureReport:
        """Erase the customer everywhere; raises CustomerNotFound (also the second time), TrackerStoreUnavailable."""
        now = datetime.now(UTC)
        async with self.db.session() as session:
            customer = await find_customer(session, ref)
            if customer is None:
                raise CustomerNotFound(NO_MATCH)
            customer_id = customer.id
            ids = await lock_conversations(session, customer_id)
            trackers = await erase_trackers(self.tracker_store, ids)
            counts = await anonymise_conversations(session, ids, now)
            counts.add(await erase_customer(session, customer))
            counts.deleted["tracker_events"] += trackers
            await audit.record(
                session,
                "customer.erased",
                actor=actor,
                target=f"customer:{customer_id}",
                detail=counts.as_json(),
                ip=ip,
            )
            await session.commit()
        # A bot turn in flight at that moment may have written to its tracker since: once more.
        try:
            counts.deleted["tracker_events"] += await erase_trackers(self.tracker_store, ids)
        except TrackerStoreUnavailable as exc:
            log.warning("erasure of customer %s: the second pass over the trackers failed: %s", customer_id, exc)
        if self.bus is not None:
            for conversation_id in ids:
                await self.bus.publish(AGENTS_TOPIC, {"type": "queue_changed", "conversation_id": conversation_id})
        figures = counts.as_json()
        return ErasureReport(
            customer_id=customer_id, erased_at=now, deleted=figures["deleted"], anonymised=figures["anonymised"]
        )
