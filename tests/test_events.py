"""The event bus: in-process fan-out, and across workers through the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from webhook.runtime.events import LocalBus, RedisBus, conversation_topic

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_local_bus_delivers_to_each_subscriber_of_a_topic_only():
    bus = LocalBus()
    a, b = bus.subscribe("conversation:1"), bus.subscribe("conversation:1", "messages")
    other = bus.subscribe("conversation:2")
    await bus.publish("conversation:1", {"n": 1})
    assert await a.get() == {"n": 1} and await b.get() == {"n": 1}
    assert other.queue.empty()
    a.close()
    await bus.publish("conversation:1", {"n": 2})
    assert a.queue.empty() and await b.get() == {"n": 2}


async def test_a_slow_subscriber_loses_the_oldest_events_not_the_newest():
    bus = LocalBus()
    slow = bus.subscribe("t")
    for n in range(1005):
        await bus.publish("t", {"n": n})
    assert slow.queue.qsize() == 1000
    assert (await slow.get())["n"] == 5


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
