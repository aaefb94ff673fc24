"""Web origins compared as browsers compare them: scheme, host and port, default ports filled in."""

from __future__ import annotations

import pytest

from webhook.domain.origins import AllowedOrigins, Origin, addressed_origin, is_own, own_origins, parse_origin


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Shop.Example", Origin("https", "shop.example", 443)),
        ("https://shop.example:443", Origin("https", "shop.example", 443)),
        ("http://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", Origin("http", "::1", 8000)),
        ("https://shop.example/checkout?x=1#y", Origin("https", "shop.example", 443)),  # a Referer
        ("null", None),  # a sandboxed frame, a privacy-stripped request
        ("", None),
        (None, None),
        ("file:///etc/passwd", None),
        ("chrome-extension://abc", None),
        ("http://shop.example:99999", None),
        ("http://[::1", None),
        ("shop.example", None),
    ],
)
def test_parse_origin(value: str | None, expected: Origin | None) -> None:
    assert parse_origin(value) == expected


def test_an_origin_prints_as_a_browser_sends_it() -> None:
    assert str(parse_origin("https://shop.example:443/x")) == "https://shop.example"
    assert str(parse_origin("http://127.0.0.1:8000")) == "http://127.0.0.1:8000"
    assert str(parse_origin("http://[::1]:8000")) == "http://[::1]:8000"


def test_the_addressed_origin_is_the_scheme_and_the_host_header() -> None:
    assert addressed_origin("http", "127.0.0.1:8000") == Origin("http", "127.0.0.1", 8000)
    assert addressed_origin("wss", "support.example") == Origin("https", "support.example", 443)
    assert addressed_origin("ws", "support.example") == Origin("http", "support.example", 80)
    assert addressed_origin("http", None) is None
    assert addressed_origin("http", "evil.example/@support.example") is None
    assert addressed_origin("http", "evil.example@support.example") is None


def test_own_origins_are_public_urls_and_the_addressed_one() -> None:
    mine = own_origins("https://support.example", "http", "10.0.0.5:8000")
    assert mine == {Origin("https", "support.example", 443), Origin("http", "10.0.0.5", 8000)}
    assert own_origins("", "http", "127.0.0.1:8000") == {Origin("http", "127.0.0.1", 8000)}


@pytest.mark.parametrize(
    ("claimed", "own"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.1:8000/agent", True),  # a same-origin Referer
        ("https://support.example", True),  # PUBLIC_URL behind a TLS proxy
        ("http://127.0.0.1:8001", False),  # another port is another origin
        ("https://127.0.0.1:8000", False),  # another scheme too
        ("http://support.example", False),
        ("https://support.example.evil.example", False),
        ("https://evil.example/https://support.example", False),
        ("null", False),
        (None, False),
    ],
)
def test_is_own(claimed: str | None, own: bool) -> None:
    assert is_own(claimed, "https://support.example", "http", "127.0.0.1:8000") is own


def test_allowed_origins_from_the_setting() -> None:
    anyone = AllowedOrigins.parse("*")
    assert anyone.allows("https://anything.example") and anyone.allows("null")
    listed = AllowedOrigins.parse(" https://shop.example/ , http://localhost:3000,garbage")
    assert listed.allows("https://shop.example")
    assert listed.allows("https://SHOP.example:443")
    assert listed.allows("http://localhost:3000")
    assert not listed.allows("http://localhost:3001")
    assert not listed.allows("https://evil.example")
    assert not listed.allows("null")
    assert not listed.allows(None)
    assert not AllowedOrigins.parse("").allows("https://shop.example")
