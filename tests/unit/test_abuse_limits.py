"""The abuse limits' rules: who the client is behind proxies, the lockout's growth, and the policy on
in-memory counters (the Redis-backed, cross-worker behaviour is tests/service/test_rate_limits.py)."""

from __future__ import annotations

import pytest

from webhook.domain.abuse import MAX_LOCKOUT_S, RateLimited, TrustedProxies, client_ip, limit_key, lockout_s
from webhook.runtime.abuse_limits import AbuseLimits
from webhook.settings import Settings

PROXIES = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8, fd00::/8")


# -- the client's address -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.5", [], "203.0.113.5"),  # no proxy
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # an untrusted peer's header is never read
        ("127.0.0.1", [], "127.0.0.1"),  # a trusted peer that forwards nothing is the client
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # the right-most untrusted hop
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # several headers, in order
        ("127.0.0.1", ["10.0.0.9, 10.1.2.3"], "10.0.0.9"),  # every hop a proxy: the farthest one
        ("127.0.0.1", ["198.51.100.1, not-an-ip"], "127.0.0.1"),  # garbage: the proxy that reported it
        ("127.0.0.1", ["2001:db8::7"], "2001:db8::7"),
        ("fd00::1", ["2001:db8::7"], "2001:db8::7"),
        ("testclient", ["198.51.100.1"], "testclient"),  # not an address: not a proxy either
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_is_the_right_most_address_a_trusted_proxy_reports(
    peer: str | None, forwarded_for: list[str], expected: str
) -> None:
    assert client_ip(peer, forwarded_for, PROXIES) == expected


def test_without_trusted_proxies_no_header_counts() -> None:
    assert client_ip("127.0.0.1", ["198.51.100.1"], TrustedProxies.parse("")) == "127.0.0.1"


def test_a_typo_in_the_trusted_proxies_fails_at_start() -> None:
    with pytest.raises(ValueError):
        TrustedProxies.parse("10.0.0.0/8, 10.0.0.300")


def test_ipv6_clients_count_by_their_64() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert limit_key("198.51.100.1") == "198.51.100.1"
    assert limit_key("testclient") == "testclient"


# -- the lockout's length, and the wait ------------------------------------------------------------
def test_the_lockout_doubles_each_time_up_to_a_day() -> None:
    assert [lockout_s(n, 900) for n in range(4)] == [900, 1800, 3600, 7200]
    assert lockout_s(10, 900) == MAX_LOCKOUT_S == 24 * 3600
    assert lockout_s(10_000, 900) == MAX_LOCKOUT_S
    assert lockout_s(3, 0) == 0  # SIGN_IN_LOCKOUT_S=0: no lockout


@pytest.mark.parametrize(("wait", "seconds"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60)])
def test_the_wait_is_whole_seconds_rounded_up(wait: float, seconds: int) -> None:
    assert RateLimited("x", wait).retry_after_s == seconds


# -- the policy, on in-memory counters ------------------------------------------------------------
def limits(**rates: object) -> AbuseLimits:
    values: dict[str, object] = {"redis_url": "", "rate_limit_enabled": True} | rates
    return AbuseLimits(Settings(**values))  # type: ignore[arg-type]


async def refused(check: object) -> RateLimited | None:
    try:
        await check  # type: ignore[misc]
    except RateLimited as exc:
        return exc
    return None


async def test_requests_pass_up_to_the_rate_and_then_are_refused_with_the_wait() -> None:
    policy = limits(rate_limit_per_ip="5/minute")
    assert [await refused(policy.request("198.51.100.1")) for _ in range(5)] == [None] * 5
    sixth = await refused(policy.request("198.51.100.1"))
    assert sixth is not None and 1 <= sixth.retry_after_s <= 60
    assert await refused(policy.request("198.51.100.2")) is None  # another client is not affected


async def test_several_rates_each_hold() -> None:
    policy = limits(rate_limit_chat_per_ip="100/minute", rate_limit_chat_per_session="2/minute;3/hour")
    results = [await refused(policy.chat_message("198.51.100.1", "s1", new_conversation=False)) for _ in range(3)]
    assert [r is None for r in results] == [True, True, False]


async def test_switched_off_nothing_is_limited() -> None:
    policy = limits(rate_limit_enabled=False, rate_limit_per_ip="1/minute", rate_limit_sign_in_per_user="1/minute")
    for _ in range(5):
        await policy.request("198.51.100.1")
        assert await policy.sign_in_failed("alice") is None
        await policy.refuse_if_locked("alice")


async def test_the_failures_that_fill_the_limit_lock_the_username_and_a_success_resets_them() -> None:
    policy = limits(rate_limit_sign_in_per_user="3/minute", sign_in_lockout_s=60)
    assert await policy.sign_in_failed("alice") is None
    assert await policy.sign_in_failed("Alice") is None  # names are case-insensitive, as sign-in is
    await policy.sign_in_succeeded("alice")
    assert [await policy.sign_in_failed("alice") for _ in range(2)] == [None, None]  # counted afresh
    lockout = await policy.sign_in_failed("alice")
    assert lockout is not None and (lockout.seconds, lockout.number) == (60, 1)
    refusal = await refused(policy.refuse_if_locked("ALICE"))
    assert refusal is not None and 59 <= refusal.retry_after_s <= 60
    assert await refused(policy.refuse_if_locked("bob")) is None


def test_a_bad_rate_fails_when_the_app_is_made() -> None:
    with pytest.raises(ValueError):
        limits(rate_limit_per_ip="lots")
