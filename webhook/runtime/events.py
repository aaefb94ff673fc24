"""Publish/subscribe for live updates: new messages, typing, the agents' queue, knowledge-base changes.

The conversation service publishes; WebSocket connections and the Telegram
outbox subscribe. One worker needs nothing more than :class:`LocalBus`. Several
workers (or processes) share :class:`RedisBus`, set by ``REDIS_URL``, so that a
reply produced in one worker reaches a widget connected to another.

Events are JSON-ready dicts. Delivery is best effort: the database is the record,
and every subscriber can catch up from it (the widget asks for messages after
the last id it has; the outbox reads undelivered rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

Event = dict[str, Any]
QUEUE_SIZE = 1000  # a subscriber this far behind loses the oldest events (and catches up from the store)


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


MESSAGES_TOPIC = "messages"  # every stored message, for the outbox and the agent console
AGENTS_TOPIC = "agents"  # the queue changed: a handoff, a claim, a customer writing to a person
KB_TOPIC = "kb"  # an article translation changed in the store: {"key", "lang", "origin"}


class Subscription:
    """A queue of events for one subscriber; iterate it, close it when done."""

    def __init__(self, bus: LocalBus, topics: tuple[str, ...]) -> None:
        self.bus = bus
        self.topics = topics
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)

    def put(self, event: Event) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self.bus._remove(self)


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, event: Event) -> None: ...

    def subscribe(self, *topics: str) -> Subscription: ...

    async def reachable(self) -> bool: ...


class LocalBus:
    """In-process fan-out: enough for a single worker."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def reachable(self) -> bool:
        """Whether events reach the other workers (in process: there are none to reach)."""
        return True

    def subscribe(self, *topics: str) -> Subscription:
        subscription = Subscription(self, topics)
        for topic in topics:
            self._subscribers[topic].add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[topic]

    def deliver(self, topic: str, event: Event) -> None:
        for subscription in list(self._subscribers.get(topic, ())):
            subscription.put(event)

    async def publish(self, topic: str, event: Event) -> None:
        self.deliver(topic, event)


class RedisBus(LocalBus):
    """Fan-out across workers through Redis pub/sub; local subscribers as in :class:`LocalBus`.

    A publish goes to Redis only; this worker receives its own events back from
    Redis like every other worker, so all see the same order per topic.
    """

    PREFIX = "larkspur:"

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self.redis = redis.Redis.from_url(url)
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        await self.redis.ping()  # fail at start-up, loudly, if REDIS_URL is wrong
        self._listener = asyncio.create_task(self._listen(), name="redis-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()
        await super().close()

    async def reachable(self) -> bool:
        """Whether Redis answers a ping."""
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def publish(self, topic: str, event: Event) -> None:
        await self.redis.publish(self.PREFIX + topic, json.dumps(event, ensure_ascii=False))

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(self.PREFIX + "*")
                    self._ready.set()
                    async for item in pubsub.listen():
                        if item.get("type") != "pmessage":
                            continue
                        channel = item["channel"].decode() if isinstance(item["channel"], bytes) else item["channel"]
                        self.deliver(channel.removeprefix(self.PREFIX), json.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted: subscribers catch up from the store
                log.exception("event bus: lost Redis, reconnecting")
                await asyncio.sleep(1)


def create_bus(redis_url: str) -> EventBus:
    return RedisBus(redis_url) if redis_url else LocalBus()
