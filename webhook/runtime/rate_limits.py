"""The counters behind the abuse limits: the ``limits`` library's moving windows and plain counters.

In Redis when ``REDIS_URL`` is set, so that every worker counts against the same numbers;
in this process's memory otherwise. What is counted, and by which key, is the policy's
business (:mod:`webhook.runtime.abuse_limits`); this module only counts.

The storage is made on first use, inside the running event loop (a Redis client belongs
to the loop it first connects on). If Redis cannot be reached the limits let requests
through and say so in the log: a broken counter must not take the whole service down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")
Rates = tuple[RateLimitItem, ...]
WARN_EVERY_S = 60.0


def parse_rates(text: str) -> Rates:
    """``"20/minute;300/hour"`` in the ``limits`` notation; ValueError when it is not, so a typo fails at start."""
    return tuple(parse_many(text))


class RateCounter:
    """Moving-window limits and expiring counters on one storage (Redis or memory)."""

    PREFIX = "larkspur:limits"  # the tests give each run a prefix of its own

    def __init__(self, redis_url: str = "", prefix: str | None = None) -> None:
        self.redis_url = redis_url
        self.prefix = prefix or self.PREFIX
        self._storage: Storage | None = None
        self._limiter: MovingWindowRateLimiter | None = None
        self._warned_at = 0.0

    @property
    def shared(self) -> bool:
        """Whether the counts are shared by every worker (Redis)."""
        return bool(self.redis_url)

    def _ready(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            if self.redis_url:
                self._storage = RedisStorage(
                    f"async+{self.redis_url}", implementation="redispy", key_prefix=self.prefix, wrap_exceptions=True
                )
            else:
                self._storage = MemoryStorage()
            self._limiter = MovingWindowRateLimiter(self._storage)
        return self._limiter

    @property
    def storage(self) -> Storage:
        self._ready()
        assert self._storage is not None
        return self._storage

    async def _safely(self, work: Awaitable[T], fallback: T) -> T:
        """The storage's answer; ``fallback`` (let it through) when the storage fails."""
        try:
            return await work
        except (StorageError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at > WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limits: the counter storage failed, letting requests through: %s", exc)
            return fallback

    async def hit(self, rates: Sequence[RateLimitItem], *key: str) -> float:
        """Count one request against each rate in turn: 0 when it fits them all, else the seconds until it would.

        A rate that refuses is not counted; the rates before it were.
        """
        limiter = self._ready()
        for rate in rates:
            if not await self._safely(limiter.hit(rate, *key), True):
                stats = await self._safely(limiter.get_window_stats(rate, *key), None)
                return 1.0 if stats is None else max(1.0, stats.reset_time - time.time())
        return 0.0

    async def full(self, rates: Sequence[RateLimitItem], *key: str) -> bool:
        """Whether one more request would be refused by any of the rates (nothing is counted)."""
        limiter = self._ready()
        for rate in rates:
            if not await self._safely(limiter.test(rate, *key), True):
                return True
        return False

    async def forget(self, rates: Sequence[RateLimitItem], *key: str) -> None:
        """Empty the windows of ``key`` (a success wipes the failures)."""
        limiter = self._ready()
        for rate in rates:
            await self._safely(limiter.clear(rate, *key), None)

    async def increment(self, key: str, expiry_s: float, amount: int = 1) -> int:
        """Add to a counter that disappears ``expiry_s`` after it was created; its new value."""
        return await self._safely(self.storage.incr(key, math.ceil(expiry_s), amount), 0)

    async def value(self, key: str) -> int:
        return await self._safely(self.storage.get(key), 0)

    async def seconds_left(self, key: str) -> float:
        """How long until the counter ``key`` disappears."""
        expiry = await self._safely(self.storage.get_expiry(key), time.time())
        return max(0.0, expiry - time.time())

    async def remove(self, key: str) -> None:
        await self._safely(self.storage.clear(key), None)

    async def close(self) -> None:
        """Drop the storage (its Redis connections); the next use makes a new one."""
        storage, self._storage, self._limiter = self._storage, None, None
        if isinstance(storage, RedisStorage):
            client = getattr(storage.bridge, "storage", None)
            if client is not None and hasattr(client, "aclose"):
                await self._safely(client.aclose(), None)
