"""The API's interactive docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), from our own files.

FastAPI loads both from a CDN by default, which leaves them blank offline and puts a third
party's script on our origin. The bundles are vendored from npm under ``static/vendor/``
(``swagger-ui-dist`` 5.36.0 and ``redoc`` 2.5.4, each with its licence), and each page
carries a policy of its own:

- Swagger UI is started by one inline script in FastAPI's HTML: the page's policy allows that
  script by its SHA-256 hash (computed from the HTML served, so it follows FastAPI), and
  nothing else inline.
- ReDoc styles itself with styled-components, which writes ``<style>`` elements at run time,
  and builds its search index in a ``blob:`` worker: its page allows inline styles and blob
  workers, and still no inline script. Both pages show only our own OpenAPI document.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from webhook.api.hardening import content_security_policy

VENDOR = "/static/vendor"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(tags=["docs"], include_in_schema=False)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-...'``) for each inline ``<script>`` of a page."""
    digests = (hashlib.sha256(body.encode()).digest() for body in _INLINE_SCRIPT.findall(html))
    return [f"'sha256-{base64.b64encode(d).decode()}'" for d in digests]


def _openapi_url(request: Request) -> str:
    return str(request.app.openapi_url or "/openapi.json")


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on our own bundle; its one inline start-up script is allowed by hash."""
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui-favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
    )
    html = bytes(page.body).decode()
    scripts = " ".join(["'self'", *inline_script_hashes(html)])
    page.headers["Content-Security-Policy"] = content_security_policy(script_src=scripts)
    return page


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on our own bundle, without Google Fonts."""
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc.standalone.js",
        redoc_favicon_url="data:,",  # none: no request, and not the Swagger logo
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = content_security_policy(
        style_src="'self' 'unsafe-inline'", worker_src="'self' blob:"
    )
    return page
