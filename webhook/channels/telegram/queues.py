"""Updates stored before they are acknowledged, then processed one chat at a time, in order.

An update is stored under its ``update_id`` first, so Telegram's retries are
processed once and an update survives a crash between receipt and processing;
one stored but never finished is queued again when the channel starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from webhook.domain.errors import BotUnavailable
from webhook.store import outbox
from webhook.store.database import Database

log = logging.getLogger(__name__)

UpdateStep = Callable[[dict[str, Any]], Awaitable[None]]


def chat_key(payload: dict[str, Any]) -> str:
    """The chat an update belongs to, read from the raw update (its order is kept per chat)."""
    for kind in ("message", "edited_message"):
        if isinstance(payload.get(kind), dict):
            return str(payload[kind].get("chat", {}).get("id", "none"))
    query = payload.get("callback_query")
    if isinstance(query, dict):
        return str(query.get("message", {}).get("chat", {}).get("id") or query.get("from", {}).get("id"))
    return "other"


class ChatQueues:
    """One queue and one worker per chat with updates waiting; a worker ends when its queue is empty."""

    def __init__(self, db: Database, process: UpdateStep, tell_unavailable: UpdateStep) -> None:
        self.db = db
        self.process = process
        self.tell_unavailable = tell_unavailable
        self._chats: dict[str, asyncio.Queue[tuple[int, dict[str, Any]]]] = {}
        self.workers: set[asyncio.Task[None]] = set()

    async def receive(self, payload: dict[str, Any]) -> bool:
        """Store an update and queue it; False for an ``update_id`` seen before."""
        update_id = int(payload["update_id"])
        async with self.db.session() as session:
            if not await outbox.store_update(session, update_id, payload):
                return False
        self.enqueue(update_id, payload)
        return True

    async def resume_pending(self) -> None:
        """Updates stored before a restart but never processed."""
        async with self.db.session() as session:
            pending = await outbox.pending_updates(session)
        for update_id, payload in pending:
            self.enqueue(update_id, payload)

    def enqueue(self, update_id: int, payload: dict[str, Any]) -> None:
        chat = chat_key(payload)
        queue = self._chats.get(chat)
        if queue is None:
            queue = self._chats[chat] = asyncio.Queue()
            worker = asyncio.create_task(self._work(chat, queue), name=f"telegram-chat-{chat}")
            self.workers.add(worker)
            worker.add_done_callback(self.workers.discard)
        queue.put_nowait((update_id, payload))

    async def _work(self, chat: str, queue: asyncio.Queue[tuple[int, dict[str, Any]]]) -> None:
        """One chat's updates, in order."""
        try:
            while not queue.empty():
                update_id, payload = queue.get_nowait()
                error = await self._process_one(update_id, payload)
                async with self.db.session() as session:
                    await outbox.finish_update(session, update_id, error)
        finally:
            if self._chats.get(chat) is queue:
                del self._chats[chat]

    async def _process_one(self, update_id: int, payload: dict[str, Any]) -> str | None:
        """Process an update; the error to record with it, or None."""
        try:
            await self.process(payload)
        except BotUnavailable as exc:
            await self.tell_unavailable(payload)  # the message is stored; the customer is told now
            return str(exc)
        except Exception as exc:  # one bad update must not stop the chat
            log.exception("telegram: update %s failed", update_id)
            return repr(exc)
        return None
