"""The in-process event bus: fan-out to each subscriber of a topic, the oldest events dropped first.

The bus across workers, through the real Redis, is in tests/service/test_events.py.
"""

from __future__ import annotations

from webhook.runtime.events import LocalBus


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
