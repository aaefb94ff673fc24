"""The pure rules of the abuse limits: who the client is behind proxies, and how long a lockout lasts.

Counting lives in :mod:`webhook.runtime.rate_limits`; the edges (the API, the web channel)
turn :class:`RateLimited` into a 429 or a WebSocket error frame.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

MAX_LOCKOUT_S = 24 * 3600
# IPv6 clients are counted by their /64: one subscriber usually holds a whole /64, and
# counting single addresses would let them change address for every request.
IPV6_PREFIX = 64

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimited(Exception):
    """A request over one of the limits: refuse it, and say how many seconds until it would pass."""

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))  # whole seconds, rounded up, at least 1


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed (``TRUSTED_PROXIES``: IPs and CIDRs)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """``"10.0.0.1, 192.168.0.0/16"``; ValueError on an entry that is neither, so a typo fails at start."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        return cls(tuple(ipaddress.ip_network(entry, strict=False) for entry in entries))

    def trusts(self, address: str) -> bool:
        found = _address(address)
        return found is not None and any(found.version == net.version and found in net for net in self.networks)


def client_ip(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The client's address, as far as it can be known.

    The socket peer, unless the peer is a trusted proxy: then the right-most address of
    ``X-Forwarded-For`` (all its headers, in order) that is not a trusted proxy, each hop
    to its right having been added by a proxy we trust. A hop that is not an address stops
    the walk at the proxy that reported it. A client's own header is never read, because
    only a trusted peer's is.
    """
    nearest = (peer or "").strip() or "unknown"
    if not trusted.trusts(nearest):
        return nearest
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return nearest
        if not trusted.trusts(hop):
            return str(address)
        nearest = str(address)
    return nearest


def limit_key(ip: str) -> str:
    """What a per-IP limit counts by: the address itself, or an IPv6 address's /64."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip


def lockout_s(earlier_lockouts: int, first_s: int) -> int:
    """How long a username stays locked: ``first_s``, doubled for each earlier lockout, at most a day; 0: never."""
    if first_s <= 0:
        return 0
    return min(MAX_LOCKOUT_S, first_s * 2 ** min(max(earlier_lockouts, 0), 32))
