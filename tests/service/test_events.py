"""The event bus across workers, through the real Redis (the in-process bus is in tests/unit/test_events.py)."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from webhook.runtime.events import RedisBus, conversation_topic

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_redis_bus_reaches_a_subscriber_in_another_worker():
    worker_a, worker_b = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    try:
        await worker_a.start()
        await worker_b.start()
    except Exception as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}", pytrace=False)
    try:
        topic = conversation_topic(uuid.uuid4().hex)
        listener = worker_b.subscribe(topic)
        own = worker_a.subscribe(topic)
        event = {"type": "message", "message": {"id": 7, "text": "سلام"}}
        await worker_a.publish(topic, event)
        assert await asyncio.wait_for(listener.get(), 5) == event
        assert await asyncio.wait_for(own.get(), 5) == event  # the publisher's own subscribers too, via Redis
    finally:
        await worker_a.close()
        await worker_b.close()
