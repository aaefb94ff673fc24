"""The hardened surface, as pure ASGI middleware: security headers, CSRF origin checks, CORS for the widget only.

Pure ASGI (no ``BaseHTTPMiddleware``), so WebSockets and streamed responses pass through
untouched. Each piece says why in its docstring; docs/security.md has the whole picture.
"""

from __future__ import annotations

import logging

from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.api.deps import COOKIE_NAME
from webhook.domain.origins import AllowedOrigins, is_own

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Where a browser may sign in with a password: a foreign Origin is refused (login CSRF), a script
# sending none is not, and a stale cookie does not make the request cookie-signed.
SIGN_IN_PATHS = frozenset({"/api/agent/login"})
# What the widget (static/widget.js) calls from other sites: the only routes that answer CORS.
WIDGET_PATH = "/api/chat"


def content_security_policy(script_src: str = "'self'", style_src: str = "'self'", worker_src: str = "") -> str:
    """Our pages' policy: only our own files run or style, nothing frames us, nothing posts elsewhere.

    No page has inline script, inline style or ``eval``: templates load static files, the
    scripts build the DOM with ``textContent`` and set styles through the CSSOM (which CSP
    does not govern), and the widget adopts a constructed stylesheet. ``img-src data:`` is for
    CSS-embedded icons; ``connect-src 'self'`` covers the same-origin WebSockets.
    """
    directives = [
        "default-src 'self'",
        f"script-src {script_src}",
        f"style-src {style_src}",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if worker_src:
        directives.append(f"worker-src {worker_src}")
    return "; ".join(directives)


def security_headers(public_url: str) -> dict[str, str]:
    """The headers every response carries (a route may set its own ``Content-Security-Policy`` first)."""
    headers = {
        "Content-Security-Policy": content_security_policy(),
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if public_url.lower().startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


class SecurityHeaders:
    """Adds :func:`security_headers` to every HTTP response that does not already carry them.

    The widget stays embeddable: it is a script running in the host's page, and headers on a
    script (or on the API it calls) do not stop a page from loading it; only our own pages are
    refused to frames.
    """

    def __init__(self, app: ASGIApp, public_url: str = "") -> None:
        self.app = app
        self.headers = security_headers(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_widget_path(path: str) -> bool:
    return path == WIDGET_PATH or path.startswith(WIDGET_PATH + "/")


def signed_by_header(headers: Headers) -> bool:
    """A bearer token or an API key: a script's credentials, which a browser never adds to a request by itself."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (scheme.lower() == "bearer" and bool(token.strip())) or bool(headers.get("x-api-key"))


class CookieOriginCheck:
    """CSRF: a write signed only by the console's cookie must come from our own pages.

    The cookie is SameSite=Lax, which already keeps it off cross-site POSTs; this also covers
    same-site origins (a sibling subdomain) and browsers without SameSite. A browser sends
    ``Origin`` with every POST, PUT, PATCH and DELETE; ``Referer`` stands in when it is absent.
    A cookie-signed write with neither, or with a foreign one, is 403. Bearer-token and API-key
    requests are exempt; the widget's routes never read the cookie.
    """

    def __init__(self, app: ASGIApp, public_url: str = "") -> None:
        self.app = app
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.refuses(scope):
            detail = "this request must come from this site's own pages (its Origin is missing or foreign)"
            await JSONResponse({"error": "forbidden", "detail": detail}, 403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refuses(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if scope["method"] not in UNSAFE_METHODS or is_widget_path(path):
            return False
        headers = Headers(scope=scope)
        if signed_by_header(headers):
            return False
        sign_in = path in SIGN_IN_PATHS
        if not sign_in and COOKIE_NAME not in cookie_parser(headers.get("cookie", "")):
            return False
        origin = headers.get("origin")
        claimed = origin if origin is not None else headers.get("referer")
        if claimed is None:
            return not sign_in
        if is_own(claimed, self.public_url, scope["scheme"], headers.get("host")):
            return False
        log.warning("refused a %s %s from a foreign page (%s)", scope["method"], path, claimed[:100])
        return True


class WidgetCors:
    """CORS for the widget's routes only (``/api/chat``, ``/api/chat/...``), from WIDGET_ALLOWED_ORIGINS.

    Starlette's CORSMiddleware does the protocol; every other route answers no CORS headers,
    so another site's script can read nothing of the agent, editor, admin or metrics APIs.
    The widget sends no credentials, so none are allowed.
    """

    def __init__(self, app: ASGIApp, allowed_origins: str = "*") -> None:
        self.app = app
        allowed = AllowedOrigins.parse(allowed_origins)
        origins = ["*"] if allowed.any else sorted(str(o) for o in allowed.origins)
        self.cors = CORSMiddleware(
            app, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["Content-Type"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_widget_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def foreign_origin(connection: HTTPConnection, public_url: str) -> str | None:
    """The ``Origin`` of a WebSocket handshake when it is present and not our own (else None).

    Browsers always send it on a handshake, and WebSockets have no CORS: the server must look.
    """
    origin = connection.headers.get("origin")
    if origin is None or is_own(origin, public_url, connection.url.scheme, connection.headers.get("host")):
        return None
    return origin
