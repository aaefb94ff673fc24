"""The Telegram channel in this process: polling mode, the outbox's retries, and resuming after a restart.

The channel runs on a real database (SQLite and PostgreSQL) and the fake Rasa (whose
real actions answer from the real knowledge base), against a fake Bot API server of
its own. The webhook mode, through the real Rasa server, is in tests/stack/test_telegram.py.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fake_telegram import FakeTelegram
from webhook.channels.telegram.channel import TelegramChannel
from webhook.domain.enums import Channel
from webhook.services.conversations import ConversationService
from webhook.settings import Settings
from webhook.store import outbox


@pytest.fixture
def fake():
    with FakeTelegram(token="42:POLLING-TEST") as server:
        yield server


@pytest.fixture
async def service(db, rasa):
    return ConversationService(db, rasa)  # rasa: the fake (tests/service/conftest.py)


def polling_settings(fake: FakeTelegram) -> Settings:
    return Settings(
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        telegram_webhook_url="",
        public_url="http://support.example",
    )


async def test_polling_mode_answers_and_confirms_updates_only_once_stored(fake, service, db):
    channel = TelegramChannel(polling_settings(fake), service, db)
    await channel.start()
    try:
        assert channel.polling and channel.username == fake.username
        await fake.wait_for_async("deleteWebhook")
        update = fake.push_update(fake.text_update(501, "How do I reset my password?"))
        reply = await fake.wait_for_async("sendMessage", lambda c: c.ok and c.params["chat_id"] == 501, timeout=90)
        assert "password" in reply.params["text"].lower()
        # the next getUpdates confirms the update (offset past it): Telegram will not resend it
        for _ in range(100):
            if not fake.pending_updates():
                break
            await asyncio.sleep(0.1)
        assert fake.pending_updates() == []
        async with db.session() as session:
            assert await outbox.last_update_id(session) == update["update_id"]
    finally:
        await channel.stop()


async def test_failed_sends_are_retried_until_delivered(fake, service, db):
    channel = TelegramChannel(polling_settings(fake), service, db)
    fake.fail_next("sendMessage", 500, times=2)
    await channel.start()
    try:
        fake.push_update(fake.text_update(502, "do you ship to Canada?"))
        delivered = await fake.wait_for_async("sendMessage", lambda c: c.ok and c.params["chat_id"] == 502, timeout=90)
        failed = [c for c in fake.calls("sendMessage") if not c.ok]
        assert len(failed) == 2 and delivered.time > failed[-1].time
        async with db.session() as session:
            assert await outbox.claim_deliveries(session, Channel.TELEGRAM) == []  # nothing left to send
    finally:
        await channel.stop()


async def test_an_update_stored_before_a_crash_is_processed_after_the_restart(fake, service, db):
    update = fake.text_update(503, "where is my order?")
    async with db.session() as session:  # received and stored, then the process died
        assert await outbox.store_update(session, update["update_id"], update)
    channel = TelegramChannel(polling_settings(fake), service, db)
    await channel.start()
    try:
        await fake.wait_for_async("sendMessage", lambda c: c.ok and c.params["chat_id"] == 503, timeout=90)
        for _ in range(100):  # marked processed once the whole turn is done
            async with db.session() as session:
                if not await outbox.pending_updates(session):
                    break
            await asyncio.sleep(0.1)
        async with db.session() as session:
            assert await outbox.pending_updates(session) == []
    finally:
        await channel.stop()
