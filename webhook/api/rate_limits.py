"""The abuse limits at the HTTP edge: the per-IP middleware, the 429 answer, and the typed dependencies.

The policy (what is limited, by which key) is :mod:`webhook.runtime.abuse_limits`; here a
refusal becomes ``429`` with ``Retry-After`` and ``{"error": "rate_limited", "detail",
"retry_after"}`` (the seconds in the body too, for the widget, which cannot read a header
across origins), and a WebSocket handshake over the per-IP limit is closed before it opens.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from webhook.domain.abuse import RateLimited
from webhook.runtime.abuse_limits import AbuseLimits
from webhook.settings import Settings

# Callers that prove who they are with a secret of their own, and come from few addresses
# carrying everyone's traffic: Rasa's action calls (loopback) and Telegram's webhook.
EXEMPT_PATHS = frozenset({"/webhook/actions", "/telegram/webhook"})
POLICY_VIOLATION = 1008


class RateLimitedOut(BaseModel):
    error: str = "rate_limited"
    detail: str
    retry_after: int


RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": RateLimitedOut, "description": "Over a rate limit: try again after Retry-After"}
}


def limited_response(exc: RateLimited) -> JSONResponse:
    body = RateLimitedOut(detail=exc.detail, retry_after=exc.retry_after_s)
    return JSONResponse(body.model_dump(), status_code=429, headers={"Retry-After": str(exc.retry_after_s)})


async def rate_limited_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    return limited_response(exc)


def abuse_limits(connection: HTTPConnection) -> AbuseLimits:
    limits: AbuseLimits = connection.app.state.abuse_limits
    return limits


def connection_ip(connection: HTTPConnection) -> str:
    """The client's address: the peer, or what a trusted proxy says in ``X-Forwarded-For``."""
    peer = connection.client.host if connection.client else None
    return abuse_limits(connection).client_ip(peer, connection.headers.getlist("x-forwarded-for"))


AbuseLimitsDep = Annotated[AbuseLimits, Depends(abuse_limits)]
ClientIP = Annotated[str, Depends(connection_ip)]


class RequestLimit:
    """Every request and WebSocket handshake counts against ``RATE_LIMIT_PER_IP`` (a pure ASGI middleware)."""

    def __init__(self, app: ASGIApp, limits: AbuseLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.limits.enabled or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        peer = connection.client.host if connection.client else None
        ip = self.limits.client_ip(peer, connection.headers.getlist("x-forwarded-for"))
        try:
            await self.limits.request(ip)
        except RateLimited as exc:
            if scope["type"] == "http":
                await limited_response(exc)(scope, receive, send)
            else:
                await WebSocket(scope, receive, send).close(POLICY_VIOLATION, "rate limited")
            return
        await self.app(scope, receive, send)


def install_rate_limits(app: FastAPI, settings: Settings) -> AbuseLimits:
    """Put the limits on ``app.state``, the per-IP middleware on the app, and the 429 handler.

    Call it before the CORS middleware is added, so that a 429 carries the CORS headers too.
    """
    limits = AbuseLimits(settings)
    app.state.abuse_limits = limits
    app.add_middleware(RequestLimit, limits=limits)
    app.add_exception_handler(RateLimited, rate_limited_handler)
    return limits
