"""getUpdates long polling, used when no webhook URL is configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from webhook.channels.telegram.inbound import ALLOWED_UPDATES
from webhook.store import outbox
from webhook.store.database import Database

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 25
MAX_BACKOFF_S = 60.0

Receive = Callable[[dict[str, Any]], Awaitable[bool]]


async def poll_forever(bot: Bot, db: Database, receive: Receive) -> None:
    """Fetch updates and ``receive`` each; one is confirmed to Telegram (by the next offset) only once stored."""
    async with db.session() as session:
        last = await outbox.last_update_id(session)
    offset = (last + 1) if last is not None else None
    delay = 1.0
    while True:
        try:
            updates = await bot.get_updates(
                offset=offset,
                timeout=POLL_TIMEOUT_S,
                allowed_updates=ALLOWED_UPDATES,
                read_timeout=POLL_TIMEOUT_S + 10,
            )
            delay = 1.0
        except asyncio.CancelledError:
            raise
        except TelegramError as exc:
            log.warning("telegram: getUpdates failed (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        for update in updates:
            await receive(update.to_dict())
            offset = update.update_id + 1
