"""The abuse limits' policy: what is limited, by which key, at which rate (docs/security.md).

- every request, per client IP (``RATE_LIMIT_PER_IP``);
- customer chat messages, per IP and per chat session, on HTTP and the WebSocket alike;
- messages that start a new conversation, per IP;
- sign-in attempts per IP, and failed ones per username, with a growing lockout;
- agent, editor and admin API calls, per signed-in user (or the editor API key).

Each check raises :class:`RateLimited` (with the seconds to wait) or returns; the edges
turn it into a 429 or an error frame. ``RATE_LIMIT_ENABLED=false`` makes every check pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from webhook.domain.abuse import RateLimited, TrustedProxies, client_ip, limit_key, lockout_s
from webhook.runtime.rate_limits import RateCounter, Rates, parse_rates
from webhook.settings import Settings

# How long the number of earlier lockouts of a username is remembered after the last one ends.
LOCKOUT_MEMORY_S = 24 * 3600


@dataclass(frozen=True)
class Rules:
    """The configured rates, parsed (a bad one fails when the app is made, not on the first request)."""

    per_ip: Rates
    chat_per_ip: Rates
    chat_per_session: Rates
    new_conversations_per_ip: Rates
    sign_in_per_ip: Rates
    sign_in_failures_per_user: Rates
    staff_per_user: Rates
    first_lockout_s: int

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            per_ip=parse_rates(settings.rate_limit_per_ip),
            chat_per_ip=parse_rates(settings.rate_limit_chat_per_ip),
            chat_per_session=parse_rates(settings.rate_limit_chat_per_session),
            new_conversations_per_ip=parse_rates(settings.rate_limit_new_conversations_per_ip),
            sign_in_per_ip=parse_rates(settings.rate_limit_sign_in_per_ip),
            sign_in_failures_per_user=parse_rates(settings.rate_limit_sign_in_per_user),
            staff_per_user=parse_rates(settings.rate_limit_staff_per_user),
            first_lockout_s=settings.sign_in_lockout_s,
        )


@dataclass(frozen=True)
class Lockout:
    """A username was just locked: for how long, and the how-manieth lockout in a row this is."""

    seconds: int
    number: int


class AbuseLimits:
    """The checks the edges call; one per app, its counters shared by every worker through Redis."""

    def __init__(self, settings: Settings, counter: RateCounter | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        self.rules = Rules.of(settings)
        self.trusted = TrustedProxies.parse(settings.trusted_proxies)
        self.counter = counter or RateCounter(settings.redis_url)

    def client_ip(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        """The client's address (``X-Forwarded-For`` only from a trusted proxy)."""
        return client_ip(peer, forwarded_for, self.trusted)

    async def _check(self, rates: Rates, what: str, *key: str) -> None:
        if not self.enabled:
            return
        wait_s = await self.counter.hit(rates, what, *key)
        if wait_s > 0:
            raise RateLimited(_DETAILS[what], wait_s)

    async def request(self, ip: str) -> None:
        """Any request (a WebSocket's handshake included) from ``ip``."""
        await self._check(self.rules.per_ip, "request", limit_key(ip))

    async def chat_message(self, ip: str, session: str, *, new_conversation: bool) -> None:
        """A customer message from ``ip`` in chat ``session``; ``new_conversation``: it would start one."""
        await self._check(self.rules.chat_per_ip, "chat-ip", limit_key(ip))
        await self._check(self.rules.chat_per_session, "chat-session", session)
        if new_conversation:
            await self._check(self.rules.new_conversations_per_ip, "new-conversation", limit_key(ip))

    async def staff_call(self, caller: str) -> None:
        """An agent, editor or admin API call by ``caller`` (``user:<id>``, or the editor API key)."""
        await self._check(self.rules.staff_per_user, "staff", caller)

    # -- sign-in ---------------------------------------------------------------------------------
    async def sign_in_attempt(self, ip: str) -> None:
        """Any sign-in attempt from ``ip``, right or wrong."""
        await self._check(self.rules.sign_in_per_ip, "sign-in-ip", limit_key(ip))

    async def refuse_if_locked(self, username: str) -> None:
        """A locked username is refused whatever the password, until its lockout ends."""
        if not self.enabled:
            return
        locked = _key("locked", username)
        if await self.counter.value(locked) > 0:
            raise RateLimited(_DETAILS["locked"], await self.counter.seconds_left(locked))

    async def sign_in_failed(self, username: str) -> Lockout | None:
        """Count a failed sign-in; when the username's failures fill their limit, lock it (the Lockout)."""
        if not self.enabled or self.rules.first_lockout_s <= 0:
            return None
        rates = self.rules.sign_in_failures_per_user
        failures = ("sign-in-failures", username.lower())
        refused = await self.counter.hit(rates, *failures) > 0
        if not refused and not await self.counter.full(rates, *failures):
            return None
        level_key = _key("lockouts", username)
        earlier = await self.counter.value(level_key)
        seconds = lockout_s(earlier, self.rules.first_lockout_s)
        await self.counter.remove(level_key)  # re-made so that it is remembered from now on
        await self.counter.increment(level_key, seconds + LOCKOUT_MEMORY_S, amount=earlier + 1)
        await self.counter.increment(_key("locked", username), seconds)
        await self.counter.forget(rates, *failures)  # after the lockout, a fresh allowance
        return Lockout(seconds, earlier + 1)

    async def sign_in_succeeded(self, username: str) -> None:
        """A right password outside a lockout: the failures and the lockouts so far are forgotten."""
        if not self.enabled:
            return
        await self.counter.forget(self.rules.sign_in_failures_per_user, "sign-in-failures", username.lower())
        await self.counter.remove(_key("lockouts", username))

    async def close(self) -> None:
        await self.counter.close()


def _key(kind: str, username: str) -> str:
    return f"sign-in-{kind}/{username.lower()}"


_DETAILS = {
    "request": "too many requests from this address; try again later",
    "chat-ip": "too many messages from this address; try again later",
    "chat-session": "too many messages in this chat; try again later",
    "new-conversation": "too many new conversations from this address; try again later",
    "staff": "too many requests from this user; try again later",
    "sign-in-ip": "too many sign-in attempts; try again later",
    "locked": "too many sign-in attempts; try again later",
}
