"""The outbox for Telegram: replies are stored messages; this sends them and marks them delivered.

A message is claimed, sent (split to Telegram's length limit, its buttons as an
inline keyboard on the last part) and marked delivered. After a transient error
it is released to be tried again, after ``RetryAfter`` when Telegram says; a
refusal that will not change (blocked by the user, chat gone) gives it up. The
loop wakes on every new outgoing Telegram message and sweeps now and then for
retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from webhook.channels.telegram.format import inline_keyboard, split_text, to_html
from webhook.domain.enums import Channel
from webhook.runtime.events import MESSAGES_TOPIC, EventBus
from webhook.store import outbox
from webhook.store.database import Database

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 5.0  # how often the outbox looks for replies to retry
RETRY_AFTER_ERROR_S = 2.0


class OutboxDelivery:
    """Delivers the undelivered Telegram messages this worker can claim."""

    def __init__(self, bot: Bot, db: Database, bus: EventBus) -> None:
        self.bot = bot
        self.db = db
        self.bus = bus
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    async def run_forever(self) -> None:
        """Deliver now, then whenever a message for Telegram is stored, and every few seconds."""
        subscription = self.bus.subscribe(MESSAGES_TOPIC)

        async def watch() -> None:
            async for event in subscription:
                message = event.get("message") or {}
                if message.get("channel") == Channel.TELEGRAM and message.get("sender") != "customer":
                    self._wake.set()

        watcher = asyncio.create_task(watch())
        try:
            while True:
                await self.deliver_pending()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SWEEP_INTERVAL_S)
                self._wake.clear()
        finally:
            watcher.cancel()
            subscription.close()

    async def deliver_pending(self) -> int:
        """Send every undelivered Telegram message this worker can claim; returns how many were sent."""
        sent = 0
        async with self._lock:
            while True:
                async with self.db.session() as session:
                    batch = await outbox.claim_deliveries(session, Channel.TELEGRAM)
                if not batch:
                    return sent
                for delivery in batch:
                    sent += await self._deliver(delivery)

    async def _deliver(self, delivery: outbox.Delivery) -> int:
        """Send one claimed message and record how it went; 1 when it was delivered."""
        async with self.db.session() as session:
            if delivery.address is None:
                log.error("telegram: message %s has no Telegram chat to go to", delivery.message_id)
                return await _give_up(session, delivery)
            try:
                external_id = await self._send(int(delivery.address), delivery)
            except RetryAfter as exc:
                wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
                return await _release(session, delivery, float(wait))
            except (Forbidden, BadRequest) as exc:  # blocked by the user, chat gone: retrying will not help
                log.error("telegram: message %s cannot be delivered: %s", delivery.message_id, exc)
                return await _give_up(session, delivery)
            except TelegramError as exc:
                log.warning("telegram: message %s not sent yet: %s", delivery.message_id, exc)
                return await _release(session, delivery, RETRY_AFTER_ERROR_S)
            await outbox.mark_delivered(session, delivery.message_id, external_id)
            await session.commit()
            return 1

    async def _send(self, chat_id: int, delivery: outbox.Delivery) -> str:
        """Send the message in as many parts as it needs; the Telegram id of the last part."""
        text = delivery.text
        if delivery.author:
            text = f"{delivery.author}:\n{text}"
        chunks = split_text(text)
        keyboard = inline_keyboard(delivery.message_id, delivery.buttons)
        last_id = ""
        for i, chunk in enumerate(chunks):
            sent = await self.bot.send_message(
                chat_id,
                to_html(chunk),
                parse_mode="HTML",
                reply_markup=keyboard if i == len(chunks) - 1 else None,
                link_preview_options=None,
            )
            last_id = str(sent.message_id)
        return last_id


async def _give_up(session: AsyncSession, delivery: outbox.Delivery) -> int:
    await outbox.give_up(session, delivery.message_id)
    await session.commit()
    return 0


async def _release(session: AsyncSession, delivery: outbox.Delivery, wait_s: float) -> int:
    await outbox.release(session, delivery.message_id, wait_s)
    await session.commit()
    return 0
