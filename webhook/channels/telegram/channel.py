"""The Telegram channel, on python-telegram-bot's ``Bot`` and ``Update`` types: the parts wired together.

In: an update arrives by webhook (``POST /telegram/webhook``, :mod:`.routes`) or
by polling (:mod:`.polling`); :mod:`.queues` stores it and processes each chat's
updates in order; :mod:`.inbound` and :mod:`.commands` turn them into turns.

Out: replies are stored messages on the Telegram channel; :mod:`.delivery` sends
them and marks them delivered, retrying after errors and after restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from webhook.channels.telegram.commands import COMMAND_MENU, Commands
from webhook.channels.telegram.delivery import OutboxDelivery
from webhook.channels.telegram.inbound import ALLOWED_UPDATES, UpdateHandler
from webhook.channels.telegram.polling import poll_forever
from webhook.channels.telegram.queues import ChatQueues
from webhook.channels.telegram.turns import TurnSender
from webhook.domain.errors import TelegramConfigError
from webhook.services.conversations import ConversationService
from webhook.settings import Settings
from webhook.store.database import Database

log = logging.getLogger(__name__)


def make_bot(settings: Settings) -> Bot:
    """A Bot for the configured API server (Telegram's, or a test's fake)."""
    base = settings.telegram_api_base_url
    file_base = settings.telegram_api_file_url or base.replace("/bot", "/file/bot", 1)
    return Bot(settings.telegram_bot_token, base_url=base, base_file_url=file_base)


class TelegramChannel:
    """Receives updates, turns them into :class:`InboundMessage`, and delivers the outbox."""

    def __init__(self, settings: Settings, service: ConversationService, db: Database) -> None:
        if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
            raise TelegramConfigError("TELEGRAM_WEBHOOK_URL is set: set TELEGRAM_WEBHOOK_SECRET too")
        self.settings = settings
        self.service = service
        self.db = db
        self.bot = make_bot(settings)
        self.username: str | None = None
        self.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        turns = TurnSender(self.bot, service)
        commands = Commands(service, turns, self.public_url, settings.link_code_ttl_s)
        self.updates = UpdateHandler(self.bot, service, turns, commands)
        self.queues = ChatQueues(db, self.updates.process, self.updates.tell_unavailable)
        self.outbox = OutboxDelivery(self.bot, db, service.bus)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def polling(self) -> bool:
        return not self.settings.telegram_webhook_url

    async def start(self) -> None:
        """Check the token, register the webhook (or drop it to poll), then start delivering and receiving."""
        await self.bot.initialize()  # getMe: checks the token and tells our username
        self.username = self.updates.username = self.bot.username
        if self.polling:
            await self.bot.delete_webhook()
        else:
            await self.bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        with contextlib.suppress(TelegramError):  # the command menu is a nicety
            await self.bot.set_my_commands(COMMAND_MENU)
        self._tasks.append(asyncio.create_task(self.outbox.run_forever(), name="telegram-outbox"))
        self._tasks.append(asyncio.create_task(self.queues.resume_pending(), name="telegram-resume"))
        if self.polling:
            poller = poll_forever(self.bot, self.db, self.receive)
            self._tasks.append(asyncio.create_task(poller, name="telegram-poll"))
        log.info("telegram: @%s, %s", self.username, "polling" if self.polling else "webhook")

    async def stop(self) -> None:
        tasks = [*self._tasks, *self.queues.workers]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    async def receive(self, payload: dict[str, Any]) -> bool:
        """Store an update and queue it; False for an ``update_id`` seen before."""
        return await self.queues.receive(payload)

    async def process(self, payload: dict[str, Any]) -> None:
        """Process one update now (the queues call this for each update, in its chat's order)."""
        await self.updates.process(payload)

    async def deliver_pending(self) -> int:
        """Send every undelivered Telegram message this worker can claim; returns how many were sent."""
        return await self.outbox.deliver_pending()
