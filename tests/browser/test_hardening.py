"""The hardened surface in real Chromium, against the running product.

Another site (a tiny http.server on another 127.0.0.1 port: another origin, though the same
site, so the console's SameSite=Lax cookie still travels) frames our pages and embeds the
widget: the frames are refused by ``frame-ancestors 'none'``, the widget works. A form on
that site cannot write with the agent's cookie. Our own pages (the shop with its widget, the
console, the metrics, the API docs offline) run under their policy without a violation.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import ARTIFACTS, ROOT, free_port
from tests.widget_page import ask, launcher, messages, panel

pytestmark = pytest.mark.browser
ANSWER_TIMEOUT = 60_000
RETURN_TITLE_EN = "How do I return an item?"
ADMIN_PASSWORD = "admins have passwords too"
# Collects every CSP violation of a page (and of its frames) before any of its scripts run.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample});
});
"""
SHADOW = "document.getElementById('larkspur-widget').shadowRoot"


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def admin(stack) -> Iterator[str]:
    """An admin (console and metrics), made with the operator's command; marked unavailable afterwards."""
    username = f"guard-{secrets.token_hex(3)}"
    done = subprocess.run(
        [sys.executable, "-m", "webhook", "create-user", "--username", username, "--role", "admin"],
        input=ADMIN_PASSWORD + "\n",
        env={**os.environ, "DATABASE_URL": stack.database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    yield username
    token = httpx.post(
        f"{stack.base_url}/api/agent/login", json={"username": username, "password": ADMIN_PASSWORD}, timeout=30
    ).json()["token"]
    httpx.post(
        f"{stack.base_url}/api/agent/presence",
        json={"available": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _page(body: str) -> str:
    head = '<meta charset="utf-8"><title>Another shop</title>'
    return f'<!doctype html><html lang="en"><head>{head}</head><body>{body}</body></html>'


@pytest.fixture(scope="module")
def other_site(stack) -> Iterator[str]:
    """Another origin's website: it frames our pages, embeds the widget, and has a form that posts to us.

    ``/embed`` is served with a strict policy of its own (no inline style): the widget must
    still be styled, which it is through a constructed stylesheet.
    """
    ours = stack.base_url
    sockets = ours.replace("http://", "ws://")
    frames = "".join(
        f'<iframe id="{name}" src="{ours}{path}" width="400" height="200"></iframe>'
        for name, path in (("console", "/agent"), ("metrics", "/metrics"), ("login", "/agent/login"), ("docs", "/docs"))
    )
    pages = {
        "/embed": _page(
            f'<h1>Another shop</h1>{frames}<iframe id="control" src="/framed" width="200" height="100"></iframe>'
            f'<script src="{ours}/static/widget.js" defer></script>'
        ),
        "/framed": _page('<p id="hello">This site may frame its own pages.</p>'),
        "/csrf": _page(
            f'<form id="evil" method="post" action="{ours}/api/agent/logout"><button>Win a prize</button></form>'
        ),
    }
    policy = (
        f"default-src 'self'; script-src 'self' {ours}; style-src 'self'; "
        f"connect-src 'self' {ours} {sockets}; frame-src 'self' {ours}; img-src 'self' data:"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(urlsplit(self.path).path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if self.path == "/embed":
                self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def context(browser: Browser, stack) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    yield context
    context.close()


def sign_in(context: BrowserContext, stack, username: str) -> None:
    """Sign in through the API: the response sets the console's cookie in this context."""
    signed = context.request.post(
        stack.base_url + "/api/agent/login", data={"username": username, "password": ADMIN_PASSWORD}
    )
    assert signed.ok, signed.text()


def violations(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__csp"))


# -- another site ----------------------------------------------------------------------------
def test_another_site_cannot_frame_our_pages_but_embeds_the_widget(context: BrowserContext, stack, admin, other_site):
    sign_in(context, stack, admin)  # the frames would show the signed-in console, were they allowed
    page = context.new_page()
    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(other_site + "/embed")  # waits for the load event, which waits for every frame

    expect(page.frame_locator("#control").locator("#hello")).to_be_visible()  # framing as such works
    for name, marker in (
        ("console", "#console"),
        ("metrics", ".metrics"),
        ("login", "#login-form"),
        ("docs", "#swagger-ui"),
    ):
        frame = page.locator(f"#{name}").element_handle().content_frame()
        assert frame is not None
        assert frame.url.startswith("chrome-error://"), f"{name} was framed: {frame.url}"  # Chromium's refusal page
        expect(page.frame_locator(f"#{name}").locator(marker)).to_have_count(0)
    assert len(refusals) >= 4, refusals

    # the widget, from our origin, in this page under its own strict policy
    expect(launcher(page)).to_be_visible()
    styled = page.evaluate(
        f"() => {{ const b = {SHADOW}.querySelector('button.launcher'); const s = getComputedStyle(b);"
        " return [s.position, s.backgroundColor]; }"
    )
    assert styled == ["fixed", "rgb(91, 60, 196)"], styled
    launcher(page).click()
    expect(panel(page)).to_be_visible()
    ask(page, "How do I return an item?")
    expect(messages(page, "bot").first).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)
    page.screenshot(path=str(ARTIFACTS / "hardening-framed.png"), full_page=True)
    inline = [v for v in violations(page) if v["directive"] in ("style-src-elem", "style-src-attr", "script-src-elem")]
    assert inline == [], "the widget needs nothing inline from its host"


def test_a_form_on_another_origin_cannot_write_with_the_agents_cookie(
    context: BrowserContext, stack, admin, other_site
):
    sign_in(context, stack, admin)
    page = context.new_page()
    page.goto(other_site + "/csrf")
    with page.expect_navigation():
        page.get_by_role("button", name="Win a prize").click()
    assert page.url == stack.base_url + "/api/agent/logout"
    # Refused only because the cookie came along (same site): without it, logging out answers 204.
    assert '"error":"forbidden"' in page.content()
    assert context.request.get(stack.base_url + "/api/agent/me").status == 200, "still signed in"


# -- our own pages under their policy --------------------------------------------------------
def test_our_pages_run_under_their_policy(context: BrowserContext, stack, admin):
    sign_in(context, stack, admin)
    page = context.new_page()

    page.goto(stack.base_url + "/")
    expect(panel(page)).to_be_visible()  # the shop's widget, open on load
    assert page.evaluate(f"() => getComputedStyle({SHADOW}.querySelector('.panel')).position") == "fixed"
    assert violations(page) == [], "/"

    page.goto(stack.base_url + "/help")
    expect(page.locator("ul.articles li").first).to_be_visible()
    assert violations(page) == [], "/help"

    page.goto(stack.base_url + "/agent")
    expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
    assert violations(page) == [], "/agent"

    page.goto(stack.base_url + "/metrics")
    expect(page.locator("#range")).not_to_have_text("Loading…", timeout=30_000)
    expect(page.locator("#metrics-error")).to_be_hidden()
    size = page.evaluate("() => { const c = document.getElementById('chart-series'); return [c.width, c.height]; }")
    assert size[0] > 100 and size[1] > 50, f"Chart.js drew nothing: {size}"
    page.wait_for_timeout(1500)  # for the picture only: the charts' entry animation
    page.screenshot(path=str(ARTIFACTS / "hardening-metrics.png"), full_page=True)
    assert violations(page) == [], "/metrics: Chart.js sizes its canvas through the CSSOM, which CSP allows"


def test_the_api_docs_render_offline(context: BrowserContext, stack):
    outside: list[str] = []

    def only_ours(route: Any) -> None:
        if route.request.url.startswith(stack.base_url) or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route(re.compile(r".*"), only_ours)
    page = context.new_page()
    page.goto(stack.base_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() > 20
    expect(page.locator(".opblock-summary-path", has_text="/api/chat").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "hardening-docs.png"))
    assert violations(page) == [], "/docs: its one inline script is allowed by hash"

    page.goto(stack.base_url + "/redoc")
    expect(page.locator("[data-section-id^='operation/']").first).to_be_attached(timeout=30_000)
    expect(page.get_by_role("heading", name=re.compile("Larkspur self-service support"))).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "hardening-redoc.png"))
    # ReDoc's own "by Redocly" logo is on a CDN: the policy keeps the page from fetching it
    assert [v for v in violations(page) if v["directive"] != "img-src"] == [], "/redoc"
    assert outside == [], f"the docs asked for something outside: {outside}"
