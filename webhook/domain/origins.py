"""Web origins (scheme, host, port), compared the way browsers compare them.

A browser names the page behind a request in ``Origin`` (every cross-origin request,
every POST, every WebSocket handshake) and in ``Referer``. We check it where a
browser could be made to act for someone: the agents' socket and cookie-signed
writes must come from our own pages, the widget's socket from the sites allowed
to embed it. Our own origin is ``PUBLIC_URL``'s, or the one the request was
addressed to (its scheme and ``Host``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" if default else f"{self.scheme}://{host}:{self.port}"


def parse_origin(value: str | None) -> Origin | None:
    """The origin of an ``Origin`` header or of any absolute http(s) URL (a ``Referer``).

    None for what names no origin we could match: absent, ``null`` (sandboxed or privacy-stripped), garbage.
    """
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:  # a port out of range, a broken IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def addressed_origin(scheme: str, host: str | None) -> Origin | None:
    """The origin a request was addressed to: its URL scheme (``ws`` counts as ``http``) and its ``Host``."""
    if not host:
        return None
    scheme = _WEBSOCKET_SCHEMES.get(scheme.lower(), scheme.lower())
    if "/" in host or "@" in host:
        return None
    return parse_origin(f"{scheme}://{host}")


def own_origins(public_url: str, scheme: str, host: str | None) -> frozenset[Origin]:
    """Our own origins for one request: PUBLIC_URL's (when set) and the one the request was addressed to."""
    found = {parse_origin(public_url), addressed_origin(scheme, host)}
    return frozenset(o for o in found if o is not None)


def is_own(value: str | None, public_url: str, scheme: str, host: str | None) -> bool:
    """Whether ``value`` (an ``Origin`` or ``Referer``) names one of our own origins."""
    origin = parse_origin(value)
    return origin is not None and origin in own_origins(public_url, scheme, host)


@dataclass(frozen=True)
class AllowedOrigins:
    """A comma-separated list of origins from the settings, where ``*`` allows any."""

    any: bool
    origins: frozenset[Origin]

    @classmethod
    def parse(cls, setting: str) -> AllowedOrigins:
        entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
        parsed = (parse_origin(entry) for entry in entries if entry != "*")
        return cls("*" in entries, frozenset(o for o in parsed if o is not None))

    def allows(self, value: str | None) -> bool:
        """Whether a page on ``value`` (an ``Origin`` header) is allowed; ``*`` allows any, even ``null``."""
        if self.any:
            return True
        origin = parse_origin(value)
        return origin is not None and origin in self.origins
