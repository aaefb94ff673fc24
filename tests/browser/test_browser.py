"""The website chat widget in real Chromium (Debian's), driven by Playwright.

The widget is embedded the way a customer's site does it: one <script> tag on a page
served from another origin. Most tests talk to the running product (``stack``);
the protocol tests stand in for the server with Playwright's WebSocket routing, to
reach frames (typing, agents, errors) the product only sends in particular states.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from tests.conftest import ARTIFACTS, free_port
from tests.widget_page import ask, composer, launcher, messages, panel

pytestmark = pytest.mark.browser
ANSWER_TIMEOUT = 60_000
RETURN_TITLE_EN = "How do I return an item?"
SHADOW = "document.getElementById('larkspur-widget').shadowRoot"


def _page(body: str, title: str = "Another shop") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body>{body}</body></html>"
    )


@pytest.fixture(scope="module")
def host_site(stack) -> Iterator[str]:
    """Somebody else's website (another origin) that embeds the widget with one tag."""
    src = f"{stack.base_url}/static/widget.js"
    pages = {
        "/": _page(f'<script src="{src}" defer></script>'),
        "/fa": _page(f'<script src="{src}" defer data-lang="fa" data-color="#0b7a4b"></script>'),
        "/signed": _page(f'<script src="{src}" defer data-user-id="42" data-user-signature="00ff"></script>'),
        "/configured": _page(
            '<script>window.LarkspurWidget = {lang: "ar", position: "left", color: "rgb(200, 0, 0)",'
            ' title: "Help!", open: true};</script>'
            f'<script src="{src}" defer data-lang="fa" data-position="right" data-title="Nope"></script>'
        ),
        "/hostile": _page(
            "<style>* { color: red !important; font: italic 30px serif !important; text-transform: uppercase; }"
            " body { direction: rtl; letter-spacing: 4px; } div { opacity: .2; display: none !important; }"
            " button { display: none !important; }</style>"
            f'<p>A page with careless CSS.</p><script src="{src}" defer data-position="left"></script>'
        ),
    }

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
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def context(browser: Browser, stack) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# -- helpers ----------------------------------------------------------------------------
def shadow_active_class(page: Page) -> str:
    return page.evaluate(f"() => ({SHADOW}.activeElement || {{}}).className || ''")


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


# -- against the running product -------------------------------------------------------------
def test_embedded_on_another_origin_ask_press_reload_and_unread(page: Page, host_site: str, stack):
    assert not same_origin(host_site, stack.base_url)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(host_site + "/")
    expect(launcher(page)).to_be_visible()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    expect(launcher(page)).to_have_attribute("aria-label", re.compile(r"\S"))
    expect(panel(page)).to_be_hidden()

    launcher(page).click()
    expect(panel(page)).to_be_visible()
    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    expect(panel(page)).to_have_attribute("dir", "ltr")
    expect(panel(page).get_by_role("heading")).to_have_text("Support chat")
    expect(page.locator("#larkspur-widget [role=log][aria-live=polite]")).to_have_count(1)
    expect(panel(page).get_by_label("Your message")).to_be_visible()

    ask(page, "How do I return an item?")
    mine = messages(page, "customer").first
    expect(mine).to_contain_text("How do I return an item?")
    answer = messages(page, "bot").first
    expect(answer).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)
    expect(mine).not_to_have_class(re.compile(r"\bpending\b"))  # acknowledged
    expect(answer.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(answer.locator("strong").first).to_have_text("30 days")  # **bold**, not asterisks
    links = answer.locator("a")
    assert links.count() >= 1
    for i in range(links.count()):
        expect(links.nth(i)).to_have_attribute("target", "_blank")
        expect(links.nth(i)).to_have_attribute("rel", re.compile(r"noopener"))
        expect(links.nth(i)).to_have_attribute("href", re.compile(r"^https?://"))
    assert any(url.startswith(stack.base_url.replace("http", "ws", 1) + "/ws/chat") for url in sockets), sockets

    yes = answer.get_by_role("button", name="Yes, thanks")
    yes.click()
    expect(messages(page, "bot").nth(1)).to_contain_text("Glad I could help", timeout=ANSWER_TIMEOUT)
    expect(yes).to_be_disabled()
    expect(answer.get_by_role("button", name="No")).to_be_disabled()
    # the answer helped: the conversation is resolved and the customer is asked for a rating
    csat = messages(page, "bot").nth(2)
    expect(csat).to_contain_text("How satisfied", timeout=ANSWER_TIMEOUT)
    expect(csat.get_by_role("button")).to_have_count(5)
    expect(messages(page)).to_have_count(5)
    expect(messages(page, "customer").nth(1)).to_contain_text("Yes, thanks")
    panel(page).screenshot(path=str(ARTIFACTS / "widget-en.png"))

    page.reload()
    expect(panel(page)).to_be_visible()  # the open state is remembered
    expect(messages(page)).to_have_count(5, timeout=30_000)
    expect(messages(page, "bot").first).to_contain_text(RETURN_TITLE_EN)
    expect(messages(page, "bot").nth(1)).to_contain_text("Glad I could help")
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None

    # a reply that arrives while the panel is closed shows on the launcher's badge
    badge = page.locator("#larkspur-widget .badge")
    expect(badge).to_be_hidden()
    composer(page).fill("What is your return policy?")
    page.evaluate(f"() => {{ {SHADOW}.querySelector('form').requestSubmit(); window.Larkspur.close(); }}")
    expect(panel(page)).to_be_hidden()
    expect(badge).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(badge).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(launcher(page)).to_have_attribute("aria-label", re.compile(r"unread"))
    launcher(page).click()
    expect(panel(page)).to_be_visible()
    expect(badge).to_be_hidden()
    assert messages(page, "bot").count() >= 3


def test_persian_is_right_to_left_and_really_drawn(page: Page, host_site: str):
    page.goto(host_site + "/fa")
    launcher(page).click()
    dialog = panel(page)
    expect(dialog).to_have_attribute("dir", "rtl")
    expect(dialog).to_have_attribute("lang", "fa")
    assert dialog.evaluate("e => getComputedStyle(e).direction") == "rtl"
    expect(dialog.get_by_role("heading")).to_have_text("گفتگو با پشتیبانی")
    expect(composer(page)).to_have_attribute("placeholder", re.compile("سؤال"))

    ask(page, "چطور یک کالا را مرجوع کنم؟")
    answer = messages(page, "bot").first
    expect(answer).to_contain_text("مرجوع", timeout=ANSWER_TIMEOUT)
    assert answer.locator("strong").count() >= 1
    assert answer.locator(".text").evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.screenshot(path=str(ARTIFACTS / "widget-fa.png"))

    # Letters drawn in the panel's font: each Persian letter has its own ink, and none of
    # them is the "missing glyph" box that a private-use character falls back to.
    glyphs = dialog.evaluate(
        """panel => {
        const family = getComputedStyle(panel).fontFamily;
        const draw = (ch) => {
            const c = document.createElement('canvas'); c.width = 80; c.height = 80;
            const g = c.getContext('2d');
            g.fillStyle = '#fff'; g.fillRect(0, 0, 80, 80);
            g.fillStyle = '#000'; g.font = '48px ' + family;
            g.textAlign = 'center'; g.textBaseline = 'middle'; g.fillText(ch, 40, 40);
            const d = g.getImageData(0, 0, 80, 80).data;
            let bits = '', ink = 0;
            for (let i = 0; i < d.length; i += 4) { const on = d[i] < 128; ink += on; bits += on ? '1' : '0'; }
            return {ink, bits};
        };
        return {family, shin: draw('\u0634'), beh: draw('\u0628'), notdef: draw('\\uE000')};
    }"""
    )
    assert "Noto Sans Arabic" in glyphs["family"]
    shin, beh, notdef = glyphs["shin"], glyphs["beh"], glyphs["notdef"]
    assert shin["ink"] > 30 and beh["ink"] > 30, glyphs["family"]
    assert shin["bits"] != beh["bits"], "two different letters drew the same glyph: tofu"
    assert shin["bits"] != notdef["bits"] and beh["bits"] != notdef["bits"], "a letter drew as the missing-glyph box"

    # switching language re-labels the panel and its direction
    dialog.get_by_label("زبان").select_option("en")
    expect(dialog).to_have_attribute("dir", "ltr")
    expect(dialog.get_by_role("heading")).to_have_text("Support chat")
    assert page.evaluate("localStorage.getItem('larkspur.lang')") == "en"
    dialog.get_by_label("Language").select_option("ar")
    expect(dialog).to_have_attribute("dir", "rtl")
    expect(dialog).to_have_attribute("lang", "ar")


def test_message_text_is_never_run_as_html(page: Page, host_site: str):
    payload = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    page.goto(host_site + "/")
    launcher(page).click()
    ask(page, payload)
    mine = messages(page, "customer").first
    expect(mine.locator(".text")).to_have_text(payload)
    expect(messages(page, "bot").first).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    page.reload()  # the history path renders it too
    expect(messages(page, "customer").first.locator(".text")).to_have_text(payload, timeout=30_000)
    expect(messages(page, "bot").first).to_be_visible()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#larkspur-widget .msg img").count() == 0
    assert page.evaluate(f"{SHADOW}.querySelectorAll('script, img').length") == 0


def test_keyboard_only(page: Page, host_site: str):
    page.goto(host_site + "/")
    expect(launcher(page)).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "larkspur-widget"
    assert "launcher" in shadow_active_class(page)
    outline = launcher(page).evaluate("e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
    assert outline.split()[0] not in ("none", "hidden") and outline.split()[1] != "0px", outline  # focus is visible

    page.keyboard.press("Enter")
    expect(panel(page)).to_be_visible()
    assert "text" in shadow_active_class(page)  # the composer has the focus
    page.keyboard.type("How do I return an item?")
    page.keyboard.press("Enter")
    answer = messages(page, "bot").first
    expect(answer).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)

    answer.get_by_role("button", name="Yes, thanks").focus()
    page.keyboard.press("Enter")
    expect(messages(page, "bot").nth(1)).to_contain_text("Glad I could help", timeout=ANSWER_TIMEOUT)

    page.keyboard.press("Escape")
    expect(panel(page)).to_be_hidden()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    assert "launcher" in shadow_active_class(page)
    page.keyboard.press(" ")  # Space works too
    expect(panel(page)).to_be_visible()
    panel(page).get_by_role("button", name="Close chat").focus()
    page.keyboard.press("Enter")
    expect(panel(page)).to_be_hidden()
    assert "launcher" in shadow_active_class(page)


def test_mobile_panel_fills_the_screen_on_the_demo_page(browser: Browser, stack):
    context = browser.new_context(
        locale="en-US", viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    try:
        page = context.new_page()
        page.goto(stack.base_url + "/")
        expect(page.get_by_role("heading", name="Larkspur store")).to_be_visible()
        expect(panel(page)).to_be_visible()  # data-open="true" on the demo page
        box = panel(page).bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 667), box
        expect(composer(page)).to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / "widget-mobile.png"))
    finally:
        context.close()


def test_host_page_css_does_not_leak_in(page: Page, host_site: str):
    page.goto(host_site + "/hostile")
    expect(launcher(page)).to_be_visible()
    box = launcher(page).bounding_box()
    assert box is not None and box["x"] < 100, box  # data-position="left"
    launcher(page).click()
    expect(panel(page)).to_be_visible()
    style = (
        panel(page)
        .get_by_role("heading")
        .evaluate(
            """e => { const s = getComputedStyle(e); return {color: s.color, style: s.fontStyle,
        transform: s.textTransform, family: s.fontFamily, dir: s.direction}; }"""
        )
    )
    assert style["color"] != "rgb(255, 0, 0)" and style["style"] == "normal" and style["transform"] == "none", style
    assert style["family"].startswith('"Noto Sans"') and style["dir"] == "ltr", style
    assert panel(page).evaluate("e => getComputedStyle(e).opacity") == "1"


# -- the protocol, with the server stood in for ---------------------------------------------
class FakeServer:
    """Answers the widget's WebSocket in the test's place; records what the widget sends."""

    def __init__(self, context: BrowserContext, features: dict | None = None, history: list[dict] | None = None):
        self.sockets: list[WebSocketRoute] = []
        self.frames: list[dict] = []
        self.features = features or {"telegram": False}
        self.history = history or []
        self.answer_pings = True
        context.route_web_socket(re.compile(r"/ws/chat$"), self.accept)

    def accept(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda raw, ws=ws: self.receive(ws, raw))

    def receive(self, ws: WebSocketRoute, raw: str | bytes) -> None:
        frame = json.loads(raw)
        self.frames.append(frame)
        if frame["type"] == "hello":
            caught_up = [m for m in self.history if m["id"] > frame["after"]]
            ready = {"type": "ready", "conversation_id": "c1", "messages": caught_up, "features": self.features}
            ws.send(json.dumps(ready))
        elif frame["type"] == "ping" and self.answer_pings:
            ws.send(json.dumps({"type": "pong"}))

    def push(self, frame: dict) -> None:
        self.sockets[-1].send(json.dumps(frame))

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == kind]

    def wait_for(self, page: Page, kind: str, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + 10
        while len(self.of_type(kind)) < count:
            assert time.monotonic() < deadline, f"no {kind!r} frame: {self.frames}"
            page.wait_for_timeout(50)
        return self.of_type(kind)


def message(id: int, sender: str, text: str, **extra: object) -> dict:
    return {
        "id": id,
        "sender": sender,
        "channel": "web",
        "text": text,
        "buttons": [],
        "created_at": "2030-01-02T03:04:05+00:00",
        "client_message_id": None,
        "author": None,
        **extra,
    }


def test_protocol_frames(context: BrowserContext, host_site: str):
    server = FakeServer(context, history=[message(1, "bot", "Hi **there**, see https://example.com/x.")])
    page = context.new_page()
    page.goto(host_site + "/?larkspur_link=CODE123&utm=1")
    expect(panel(page)).to_be_visible()  # a link from Telegram opens the chat
    hello = server.wait_for(page, "hello")[0]
    assert re.fullmatch(r"[0-9a-f]{32}", hello["session"]), hello
    assert hello["session"] == page.evaluate("localStorage.getItem('larkspur.session')")
    assert (hello["lang"], hello["after"], hello["link"], hello["user"]) == ("en", 0, "CODE123", None)
    first = messages(page, "bot").first
    expect(first.locator("strong")).to_have_text("there")
    expect(first.locator("a")).to_have_attribute("href", "https://example.com/x")
    expect(first.locator("time")).to_have_attribute("datetime", "2030-01-02T03:04:05.000Z")
    expect(page).to_have_url(host_site + "/?utm=1")  # the used link code leaves the address bar

    server.push({"type": "message", "message": message(1, "bot", "Hi **there**, see https://example.com/x.")})
    server.push({"type": "typing", "on": True})
    expect(page.locator("#larkspur-widget .typing")).to_be_visible()
    server.push({"type": "message", "message": message(2, "agent", "I'm Sara, I'll check.", author="Sara")})
    expect(page.locator("#larkspur-widget .typing")).to_be_hidden()
    expect(messages(page, "agent").locator(".author")).to_have_text("Sara")
    expect(messages(page, "bot")).to_have_count(1)  # the same id twice is one message

    # my message: shown at once, pending until acknowledged, merged with the server's copy
    ask(page, "where is my parcel?")
    sent = server.wait_for(page, "message")[0]
    assert sent["text"] == "where is my parcel?" and sent["payload"] is None
    mine = messages(page, "customer").first
    expect(mine).to_have_class(re.compile(r"\bpending\b"))
    assert "where is my parcel?" in page.evaluate("localStorage.getItem('larkspur.outbox')")
    server.push({"type": "ack", "client_message_id": sent["client_message_id"], "message_id": 3, "duplicate": False})
    expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None
    server.push(
        {
            "type": "message",
            "message": message(3, "customer", "where is my parcel?", client_message_id=sent["client_message_id"]),
        }
    )
    buttons = [{"title": "Track it", "payload": "/track"}, {"title": "Cancel", "payload": "/cancel"}]
    server.push({"type": "message", "message": message(4, "bot", "Shall I track it?", buttons=buttons)})
    expect(messages(page)).to_have_count(4)
    expect(messages(page, "customer")).to_have_count(1)

    messages(page, "bot").nth(1).get_by_role("button", name="Track it").click()
    pressed = server.wait_for(page, "message", 2)[1]
    assert (pressed["text"], pressed["payload"]) == ("Track it", "/track")
    expect(messages(page, "bot").nth(1).get_by_role("button", name="Cancel")).to_be_disabled()

    # errors
    server.push(
        {
            "type": "error",
            "error": "invalid_message",
            "detail": "The message is too long.",
            "client_message_id": pressed["client_message_id"],
        }
    )
    expect(page.locator("#larkspur-widget [role=alert]")).to_have_text("The message is too long.")
    expect(messages(page, "customer").nth(1)).to_have_class(re.compile(r"\bfailed\b"))
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None
    server.push({"type": "error", "error": "bot_unavailable", "detail": "down", "client_message_id": None})
    expect(page.locator("#larkspur-widget .notice")).to_contain_text("Your message is saved")
    server.push({"type": "error", "error": "invalid_link", "detail": "expired", "client_message_id": None})
    expect(page.locator("#larkspur-widget .notice")).to_contain_text("Telegram link")

    # unread while closed; cleared on opening
    page.keyboard.press("Escape")
    server.push({"type": "message", "message": message(5, "bot", "Your parcel is on its way.")})
    server.push({"type": "message", "message": message(6, "system", "Sara left the conversation.")})
    expect(page.locator("#larkspur-widget .badge")).to_have_text("2")
    launcher(page).click()
    expect(page.locator("#larkspur-widget .badge")).to_be_hidden()

    # a new language goes to the server in a fresh hello, which catches up from the last id
    panel(page).get_by_label("Language").select_option("fa")
    hellos = server.wait_for(page, "hello", 2)
    assert (hellos[1]["lang"], hellos[1]["after"], hellos[1]["link"]) == ("fa", 6, None)
    expect(panel(page)).to_have_attribute("dir", "rtl")
    expect(panel(page).locator(".notice")).to_contain_text("پیوند تلگرام")  # translated; no "reconnecting"
    expect(messages(page)).to_have_count(7)


def test_unacknowledged_message_is_resent_after_reconnecting(context: BrowserContext, host_site: str, stack):
    """The first socket swallows the message and drops; two attempts fail; the fourth delivers it."""
    state = {"sockets": 0}
    resent: list[dict] = []
    swallowed: list[dict] = []

    def route(ws: WebSocketRoute) -> None:
        state["sockets"] += 1
        n = state["sockets"]
        if n in (2, 3):
            ws.close(code=1011, reason="down")
            return
        server = ws.connect_to_server()

        def from_page(raw: str | bytes) -> None:
            frame = json.loads(raw)
            if n == 1 and frame["type"] == "message":
                swallowed.append(frame)
                ws.close(code=1012, reason="restart")
                server.close()
                return
            if frame["type"] == "message":
                resent.append(frame)
            server.send(raw)

        ws.on_message(from_page)

    context.route_web_socket(re.compile(r"/ws/chat$"), route)
    page = context.new_page()
    page.goto(host_site + "/")
    launcher(page).click()
    ask(page, "How do I return an item?")
    notice = page.locator("#larkspur-widget .notice")
    expect(notice).to_contain_text("Reconnecting", timeout=10_000)
    answer = messages(page, "bot").first
    expect(answer).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)
    expect(notice).to_be_hidden()
    assert state["sockets"] >= 4
    assert len(swallowed) == 1 and resent, (swallowed, resent)
    assert resent[0]["client_message_id"] == swallowed[0]["client_message_id"]
    expect(messages(page, "customer")).to_have_count(1)
    expect(messages(page, "customer").first).not_to_have_class(re.compile(r"\bpending\b"))
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None


def test_outbox_survives_a_reload(context: BrowserContext, host_site: str):
    server = FakeServer(context)
    page = context.new_page()
    page.goto(host_site + "/")
    launcher(page).click()
    server.wait_for(page, "hello")
    ask(page, "are you there?")
    first = server.wait_for(page, "message")[0]
    page.reload()  # never acknowledged
    expect(messages(page, "customer")).to_have_count(1)
    expect(messages(page, "customer").first).to_have_class(re.compile(r"\bpending\b"))
    again = server.wait_for(page, "message", 2)[1]
    assert again["client_message_id"] == first["client_message_id"] and again["text"] == "are you there?"
    server.push({"type": "ack", "client_message_id": first["client_message_id"], "message_id": 9, "duplicate": True})
    expect(messages(page, "customer").first).not_to_have_class(re.compile(r"\bpending\b"))
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None


def test_a_message_whose_socket_keeps_closing_is_not_resent_for_ever(context: BrowserContext, host_site: str):
    """A message the server cannot take must not loop (issue 26: the socket dropped on a lone surrogate and the
    widget resent it on every reconnect): after three sockets closed before its ack it is shown as not sent."""
    server = FakeServer(context)
    page = context.new_page()
    page.goto(host_site + "/")
    launcher(page).click()
    server.wait_for(page, "hello")
    composer(page).evaluate("input => { input.value = 'half an emoji \\ud83d'; }")  # a lone surrogate, pasted
    composer(page).press("Enter")
    repaired = server.wait_for(page, "message")[0]
    assert repaired["text"] == "half an emoji \ufffd", repaired  # what the widget sends can be stored
    cmid = repaired["client_message_id"]
    server.push({"type": "ack", "client_message_id": cmid, "message_id": 1, "duplicate": False})

    ask(page, "where is my parcel?")
    for attempt in range(1, 4):
        sent = server.wait_for(page, "message", 1 + attempt)[-1]
        assert sent["text"] == "where is my parcel?"
        server.sockets[-1].close(code=1011, reason="server error")
    mine = messages(page, "customer").nth(1)
    expect(mine).to_have_class(re.compile(r"\bfailed\b"))
    expect(page.locator("#larkspur-widget [role=alert]")).to_be_visible()
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None
    server.wait_for(page, "hello", 4)  # the fourth socket
    ask(page, "hello again")
    after = server.wait_for(page, "message", 5)[4]
    assert after["text"] == "hello again", "the failed message was not sent again"


def test_a_rate_limited_message_is_kept_and_sent_again_after_the_wait(context: BrowserContext, host_site: str):
    """Over a chat limit the server stores nothing and names the wait: the widget tells the customer so,
    politely and in their language, keeps the message pending, and sends nothing before the wait is over."""
    server = FakeServer(context)
    page = context.new_page()
    page.goto(host_site + "/fa")
    launcher(page).click()
    server.wait_for(page, "hello")
    ask(page, "سفارشم کجاست؟")
    first = server.wait_for(page, "message")[0]
    refused_at = time.monotonic()
    server.push(
        {
            "type": "error",
            "error": "rate_limited",
            "detail": "too many messages in this chat; try again later",
            "client_message_id": first["client_message_id"],
            "retry_after": 2,
        }
    )
    notice = page.locator("#larkspur-widget .notice")
    expect(notice).to_contain_text("خودکار فرستاده می‌شود")
    expect(messages(page, "customer").first).to_have_class(re.compile(r"\bpending\b"))
    expect(page.locator("#larkspur-widget [role=alert]")).to_be_hidden()  # not an error: nothing was lost
    ask(page, "ممنون")  # written during the wait: it waits too
    page.wait_for_timeout(500)
    assert len(server.of_type("message")) == 1, "nothing is sent during the wait"
    again = server.wait_for(page, "message", 3)[1:]
    assert time.monotonic() - refused_at >= 2, "not before retry_after"
    assert again[0]["client_message_id"] == first["client_message_id"]
    assert [f["text"] for f in again] == ["سفارشم کجاست؟", "ممنون"]
    for n, frame in enumerate(again):
        server.push(
            {"type": "ack", "client_message_id": frame["client_message_id"], "message_id": 10 + n, "duplicate": False}
        )
    expect(notice).to_be_hidden()
    expect(messages(page, "customer").nth(1)).not_to_have_class(re.compile(r"\bpending\b"))
    assert page.evaluate("localStorage.getItem('larkspur.outbox')") is None
    assert len(server.of_type("message")) == 3, "and sent once"


def test_an_invalid_identity_stops_the_widget(context: BrowserContext, host_site: str):
    sockets: list[WebSocketRoute] = []
    hellos: list[dict] = []

    def route(ws: WebSocketRoute) -> None:
        sockets.append(ws)

        def from_page(raw: str | bytes) -> None:
            frame = json.loads(raw)
            if frame["type"] == "hello":
                hellos.append(frame)
                ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            "error": "invalid_identity",
                            "detail": "bad signature",
                            "client_message_id": None,
                        }
                    )
                )
                ws.close(code=4403, reason="invalid identity")

        ws.on_message(from_page)

    context.route_web_socket(re.compile(r"/ws/chat$"), route)
    page = context.new_page()
    page.goto(host_site + "/signed")
    launcher(page).click()
    expect(page.locator("#larkspur-widget .notice")).to_contain_text("could not verify", timeout=10_000)
    assert hellos[0]["user"] == {"id": "42", "signature": "00ff", "name": None}
    expect(composer(page)).to_be_disabled()
    page.wait_for_timeout(2_500)  # longer than the first reconnect delays
    assert len(sockets) == 1


def test_rest_fallback_when_no_websocket_opens(context: BrowserContext, host_site: str, stack):
    """No WebSocket at all: the widget sends over POST /api/chat (cross-origin, so CORS) and
    restores from /api/chat/history."""
    refused: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        refused.append(ws.url)
        ws.close(code=1011, reason="no websockets here")

    context.route_web_socket(re.compile(r"/ws/chat$"), refuse)
    page = context.new_page()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(host_site + "/")
    launcher(page).click()
    ask(page, "How do I return an item?")
    answer = messages(page, "bot").first
    expect(answer).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)
    assert len(refused) >= 3 and f"{stack.base_url}/api/chat" in posts
    answer.get_by_role("button", name="Yes, thanks").click()
    expect(messages(page, "bot").nth(1)).to_contain_text("Glad I could help", timeout=ANSWER_TIMEOUT)
    expect(messages(page, "bot").nth(2)).to_contain_text("How satisfied", timeout=ANSWER_TIMEOUT)
    page.reload()
    expect(messages(page)).to_have_count(5, timeout=30_000)
    expect(messages(page, "bot").first).to_contain_text(RETURN_TITLE_EN)


def telegram_user() -> int:
    return 880_000_000 + secrets.randbelow(10_000_000)


def post_update(stack, update: dict) -> None:
    response = httpx.post(
        f"{stack.base_url}/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def telegram_reply(stack, user: int, since: int, contains: str = "") -> str:
    def to_user(call) -> bool:  # type: ignore[no-untyped-def]
        return call.ok and call.params.get("chat_id") == user and contains in str(call.params.get("text", ""))

    return str(stack.telegram.wait_for("sendMessage", to_user, timeout=90, since=since).params["text"])


def test_continue_on_telegram_and_see_telegram_messages_live(page: Page, context: BrowserContext, host_site, stack):
    context.route("https://t.me/**", lambda route: route.fulfill(body="Telegram", content_type="text/plain"))
    page.goto(host_site + "/")
    launcher(page).click()
    ask(page, "How do I return an item?")
    expect(messages(page, "bot").first).to_contain_text(RETURN_TITLE_EN, timeout=ANSWER_TIMEOUT)

    button = panel(page).get_by_role("button", name="Continue on Telegram")
    expect(button).to_be_visible()
    with context.expect_page() as popup:
        button.click()
    url = popup.value.url
    popup.value.close()
    found = re.fullmatch(r"https://t\.me/\w+\?start=([A-Za-z0-9_-]+)", url)
    assert found, url

    # the customer opens the bot with that code, then writes on Telegram: the web window follows
    user, since = telegram_user(), stack.telegram.mark()
    post_update(stack, stack.telegram.text_update(user, f"/start {found.group(1)}"))
    telegram_reply(stack, user, since)
    post_update(stack, stack.telegram.text_update(user, "What is your return policy?"))
    from_telegram = messages(page, "customer").filter(has_text="What is your return policy?")
    expect(from_telegram).to_have_count(1, timeout=ANSWER_TIMEOUT)
    expect(from_telegram.locator(".via")).to_have_text("via Telegram")
    expect(messages(page, "bot")).to_have_count(2, timeout=ANSWER_TIMEOUT)

    # a blocked pop-up: the link is offered as a plain link instead
    page.evaluate("window.open = () => null")
    button.click()
    offered = panel(page).locator(".notice a")
    expect(offered).to_have_attribute("href", re.compile(r"^https://t\.me/\w+\?start="))
    expect(offered).to_have_attribute("target", "_blank")


def test_a_web_link_from_telegram_opens_that_conversation(page: Page, stack):
    user, since = telegram_user(), stack.telegram.mark()
    post_update(stack, stack.telegram.text_update(user, "How do I return an item?"))
    telegram_reply(stack, user, since, "return")
    since = stack.telegram.mark()
    post_update(stack, stack.telegram.text_update(user, "/web"))
    found = re.search(r"https?://[^\s\"'<>]+larkspur_link=([A-Za-z0-9_-]+)", telegram_reply(stack, user, since))
    assert found, "the /web reply has no link"
    page.goto(f"{stack.base_url}/?larkspur_link={found.group(1)}")
    expect(panel(page)).to_be_visible()
    expect(messages(page, "customer").first).to_contain_text("How do I return an item?", timeout=30_000)
    expect(messages(page, "customer").first.locator(".via")).to_have_text("via Telegram")
    expect(messages(page, "bot").first).to_contain_text(RETURN_TITLE_EN)
    expect(page).to_have_url(f"{stack.base_url}/")  # the one-time code is gone from the address bar
    ask(page, "Thanks, and how long does a refund take?")
    expect(messages(page, "customer")).to_have_count(3, timeout=ANSWER_TIMEOUT)


def test_no_telegram_button_without_the_feature(context: BrowserContext, stack):
    FakeServer(context, features={"telegram": False}, history=[message(1, "bot", "Hello again")])
    page = context.new_page()
    page.goto(stack.base_url + "/")
    expect(messages(page, "bot")).to_have_text(re.compile("Hello again"))  # `ready` has been handled
    expect(panel(page).get_by_role("button", name="Continue on Telegram")).to_be_hidden()


def test_window_options_win_over_attributes_and_the_api(context: BrowserContext, host_site: str):
    server = FakeServer(context)
    page = context.new_page()
    page.goto(host_site + "/configured")
    expect(panel(page)).to_be_visible()  # open: true
    expect(panel(page)).to_have_attribute("dir", "rtl")
    expect(panel(page)).to_have_attribute("lang", "ar")
    expect(panel(page).get_by_role("heading")).to_have_text("Help!")
    assert launcher(page).evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(200, 0, 0)"
    box = launcher(page).bounding_box()
    assert box is not None and box["x"] < 100, box
    assert server.wait_for(page, "hello")[0]["lang"] == "ar"

    page.evaluate("window.Larkspur.setLanguage('en')")
    expect(panel(page)).to_have_attribute("dir", "ltr")
    assert server.wait_for(page, "hello", 2)[1]["lang"] == "en"
    page.evaluate("window.Larkspur.close()")
    expect(panel(page)).to_be_hidden()
    page.evaluate("window.Larkspur.toggle()")
    expect(panel(page)).to_be_visible()
    page.evaluate("window.Larkspur.toggle()")
    expect(panel(page)).to_be_hidden()
    page.evaluate("window.Larkspur.open()")
    expect(panel(page)).to_be_visible()
    page.reload()  # the language chosen and the open state are remembered
    expect(panel(page)).to_have_attribute("lang", "en")
    expect(panel(page)).to_be_visible()


def test_pings_every_25_seconds_and_reconnects_when_pongs_stop(context: BrowserContext, host_site: str):
    server = FakeServer(context, history=[message(1, "bot", "Hello")])
    page = context.new_page()
    page.clock.install()
    page.goto(host_site + "/")
    server.wait_for(page, "hello")
    expect(messages(page, "bot")).to_have_count(1)  # `ready` handled: the pings are scheduled
    page.clock.run_for(24_000)
    assert server.of_type("ping") == []
    page.clock.run_for(2_000)
    server.wait_for(page, "ping")
    page.clock.run_for(25_000)
    server.wait_for(page, "ping", 2)  # answered, so the connection is kept
    assert len(server.of_type("hello")) == 1

    server.answer_pings = False
    page.clock.run_for(25_000)
    server.wait_for(page, "ping", 3)
    page.clock.run_for(25_000)  # no pong since the last ping: the socket is closed and opened again
    page.clock.run_for(2_000)
    server.wait_for(page, "hello", 2)
    expect(page.locator("#larkspur-widget .notice")).to_be_hidden()  # back before anyone noticed
