"""The action endpoint reads a body only up to its limit (``read_body``), whatever length it declares."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from webhook.channels.rasa_actions import BodyTooLarge, read_body

CHUNK = 1024


class Sender:
    """An ASGI ``receive`` that has ``chunks`` chunks of 1 KiB to give, and counts those taken."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        self.taken += 1
        more = self.taken < self.chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}


def request(sender: Sender, content_length: int | None = None) -> Request:
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    return Request({"type": "http", "method": "POST", "path": "/webhook/actions", "headers": headers}, sender)


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    sender = Sender(1024)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request(sender, 1024 * CHUNK), limit=10 * CHUNK))
    assert sender.taken == 0


def test_a_streamed_body_is_read_no_further_than_the_limit() -> None:
    sender = Sender(1024)  # a megabyte, undeclared
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request(sender), limit=10 * CHUNK))
    assert sender.taken == 11, "the chunk that crossed the limit is the last one read"


def test_a_body_within_the_limit_is_read_whole() -> None:
    sender = Sender(10)
    assert asyncio.run(read_body(request(sender, 10 * CHUNK), limit=10 * CHUNK)) == b"x" * 10 * CHUNK
