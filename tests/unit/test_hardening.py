"""The hardened surface on the real app, no services started: security headers on every kind of
response, CORS on the widget's routes only, cookie-signed writes refused from foreign pages,
and pages with nothing inline for the policy to allow.

What needs the services (a write that passes, the agents' socket) is in
tests/service/test_hardening.py; the browser's view in tests/browser/test_hardening.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from webhook.api.deps import COOKIE_NAME
from webhook.app import create_app
from webhook.settings import Settings

PAGES = Path(__file__).resolve().parents[2] / "webhook" / "pages"
SHOP = "https://shop.example"
EVIL = "https://evil.example"
OWN = "http://testserver"  # TestClient's origin
COOKIE = {"Cookie": f"{COOKIE_NAME}=a-session-token"}


def client(**settings: object) -> TestClient:
    """The app without its lifespan: routes that need no service answer; nothing else is started."""
    values: dict[str, object] = {"editor_api_key": "x", "public_url": "http://support.example"} | settings
    return TestClient(create_app(Settings(**values)), follow_redirects=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def http() -> TestClient:
    return client()


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


# -- headers -------------------------------------------------------------------------------
RESPONSES = [
    ("/agent/login", 200, "text/html"),  # a page
    ("/agent", 303, None),  # a redirect
    ("/openapi.json", 200, "application/json"),
    ("/api/no-such-route", 404, "application/json"),  # an API error
    ("/static/agent.js", 200, "text/javascript"),
    ("/static/widget.js", 200, "text/javascript"),
    ("/static/site.css", 200, "text/css"),
    ("/static/vendor/chart.umd.js", 200, "text/javascript"),
    ("/docs", 200, "text/html"),
    ("/redoc", 200, "text/html"),
]


@pytest.mark.parametrize(("path", "status", "content_type"), RESPONSES)
def test_every_response_carries_the_security_headers(
    http: TestClient, path: str, status: int, content_type: str | None
) -> None:
    response = http.get(path)
    assert response.status_code == status, response.text[:200]
    if content_type:
        assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in response.headers, "plain http: no HSTS"
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert not any(src.startswith("http") for values in policy.values() for src in values), "no third party"


def test_our_pages_allow_no_inline_style_either(http: TestClient) -> None:
    for path in ("/agent/login", "/openapi.json", "/static/widget.js"):
        policy = directives(http.get(path).headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path


def test_hsts_only_behind_https() -> None:
    with_https = client(public_url="https://support.example").get("/agent/login")
    assert with_https.headers["strict-transport-security"] == "max-age=31536000"


# -- the API docs, served from our own files -----------------------------------------------
def test_swagger_ui_is_ours_and_its_one_inline_script_is_allowed_by_hash(http: TestClient) -> None:
    page = http.get("/docs")
    assert "/static/vendor/swagger-ui-bundle.js" in page.text and "/static/vendor/swagger-ui.css" in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text), "nothing from a CDN"
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1 and "SwaggerUIBundle" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert directives(page.headers["content-security-policy"])["script-src"] == ["'self'", f"'sha256-{digest}'"]


def test_redoc_is_ours_without_inline_script(http: TestClient) -> None:
    page = http.get("/redoc")
    assert "/static/vendor/redoc.standalone.js" in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text), "nothing from a CDN, no Google Fonts"
    assert not re.search(r"<script>", page.text)
    policy = directives(page.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"], "styled-components writes <style> at run time"


@pytest.mark.parametrize(
    "path",
    [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-dist.LICENSE",
        "swagger-ui-dist.NOTICE",
        "redoc.standalone.js",
        "redoc.LICENSE",
    ],
)
def test_the_docs_bundles_are_served_with_their_licences(http: TestClient, path: str) -> None:
    response = http.get(f"/static/vendor/{path}")
    assert response.status_code == 200 and len(response.content) > 40


# -- nothing inline in our own pages and scripts -------------------------------------------
def test_templates_have_no_inline_script_style_or_handlers() -> None:
    templates = sorted((PAGES / "templates").glob("*.html"))
    assert len(templates) >= 6
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{template.name}: an inline <script>"
        assert "<style" not in text, f"{template.name}: a <style> block"
        assert not re.search(r"\sstyle\s*=", text), f"{template.name}: a style= attribute"
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), f"{template.name}: an inline event handler"
        assert "javascript:" not in text.lower(), f"{template.name}: a javascript: URL"


@pytest.mark.parametrize("script", ["agent.js", "metrics.js", "widget.js"])
def test_our_scripts_need_no_eval_and_write_no_markup(script: str) -> None:
    text = (PAGES / "static" / script).read_text()
    for pattern in (r"\beval\s*\(", r"new\s+Function\s*\(", r"\.innerHTML\b", r"\.outerHTML\b", r"insertAdjacentHTML"):
        assert not re.search(pattern, text), f"{script}: {pattern}"
    assert not re.search(r"setAttribute\(\s*[\"']style[\"']", text), f"{script}: a style attribute"
    assert not re.search(r"setTimeout\(\s*[\"']", text), f"{script}: a string timer is eval"


# -- CORS: the widget's routes only ----------------------------------------------------------
def preflight(http: TestClient, path: str, origin: str, method: str = "POST") -> dict[str, str]:
    response = http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/history", "/api/chat/telegram-link"])
def test_the_widgets_routes_answer_cors(http: TestClient, path: str) -> None:
    answer = preflight(http, path, SHOP)
    assert answer["access-control-allow-origin"] == "*"
    assert "POST" in answer["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer, "the widget sends no cookies"


@pytest.mark.parametrize(
    "path",
    [
        "/api/agent/login",
        "/api/agent/queue",
        "/api/agent/conversations/abc/claim",
        "/api/kb/articles/returns/en",
        "/api/kb/search",
        "/api/metrics",
        "/api/admin/customers/1",
        "/api/chats",  # only /api/chat and what is under it
        "/metrics",
        "/agent",
    ],
)
def test_no_other_route_answers_cors(http: TestClient, path: str) -> None:
    assert preflight(http, path, SHOP) == {}
    assert preflight(http, path, SHOP, method="GET") == {}


def test_listed_widget_origins_only() -> None:
    listed = client(widget_allowed_origins="https://shop.example/, http://localhost:3000")
    assert preflight(listed, "/api/chat", SHOP)["access-control-allow-origin"] == SHOP
    assert (
        preflight(listed, "/api/chat", "http://localhost:3000")["access-control-allow-origin"]
        == "http://localhost:3000"
    )
    assert "access-control-allow-origin" not in preflight(listed, "/api/chat", EVIL)


# -- CSRF: cookie-signed writes from foreign pages are refused before any route runs ----------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/agent/presence"),
        ("POST", "/api/agent/conversations/abc/claim"),
        ("POST", "/api/agent/logout"),
        ("PUT", "/api/kb/articles/returns/en"),
        ("DELETE", "/api/kb/articles/returns/en"),
        ("PATCH", "/api/admin/users/1"),
        ("DELETE", "/api/admin/customers/1"),
    ],
)
@pytest.mark.parametrize(
    "claims",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://support.example.evil.example"},
        {"Referer": f"{EVIL}/page"},
        {"Origin": EVIL, "Referer": f"{OWN}/agent"},  # Origin is what counts when it is there
        {},  # neither: a browser always sends one of them
    ],
)
def test_a_cookie_signed_write_from_a_foreign_page_is_refused(
    http: TestClient, method: str, path: str, claims: dict[str, str]
) -> None:
    response = http.request(method, path, headers=COOKIE | claims, json={})
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"
    assert response.headers["x-frame-options"] == "DENY", "refusals carry the headers too"


def test_a_foreign_page_cannot_sign_in_either(http: TestClient) -> None:
    refused = http.post("/api/agent/login", json={"username": "a", "password": "b"}, headers={"Origin": EVIL})
    assert refused.status_code == 403


def test_reads_are_not_origin_checked(http: TestClient) -> None:
    response = http.get("/openapi.json", headers=COOKIE | {"Origin": EVIL})
    assert response.status_code == 200


def test_an_api_key_request_is_exempt(http: TestClient) -> None:
    """Past the origin check, the key itself is what is checked (a wrong one: 401, not the CSRF 403)."""
    headers = COOKIE | {"Origin": EVIL, "X-API-Key": "wrong"}
    response = http.put("/api/kb/articles/returns/en", headers=headers, json={})
    assert response.status_code == 401, response.text
