"""The agent console in real Chromium, next to a customer: two real pages at once.

A customer uses the product's own page (``/``, the widget) or Telegram (posted to the
product as Telegram would, answered through the fake Bot API server); an agent signs in
to ``/agent`` in another browser context. Nothing is mocked but Telegram's cloud: the
handoff, the queue, the live socket, the replies, CSAT and the metrics are the
product's own. Users are made with the ``create-user`` command line, as an operator would.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.conftest import ARTIFACTS, ROOT
from tests.widget_page import ask, messages
from webhook.domain.identity import session_key

pytestmark = pytest.mark.browser
ANSWER_TIMEOUT = 60_000
LIVE_TIMEOUT = 30_000
RETURN_TITLE_EN = "How do I return an item?"
QUIET_S = 6  # how long the bot must stay silent while an agent has the conversation

# Counts the console's chimes: every chime starts one oscillator (WebAudio, no audio files).
COUNT_CHIMES = """
(() => {
  window.__chimes = 0;
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  const create = AC.prototype.createOscillator;
  AC.prototype.createOscillator = function () { window.__chimes += 1; return create.call(this); };
})();
"""


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    role: str
    password: str


_SUFFIX = secrets.token_hex(3)  # the stack's database is shared with other test modules
SARA = Person(f"sara-{_SUFFIX}", "Sara from Larkspur", "agent", "correct horse battery")
OMID = Person(f"omid-{_SUFFIX}", "Omid Karimi", "agent", "another long password")
ADMIN = Person(f"boss-{_SUFFIX}", "The Boss", "admin", "admins have passwords too")
EDITOR = Person(f"ed-{_SUFFIX}", "Ed", "editor", "editors write articles")


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def users(stack) -> Iterator[dict[str, Person]]:
    """The console's users, made by the operator's command (the password on standard input).

    Afterwards the agents are marked unavailable, so that tests in other modules sharing the
    stack do not find them online.
    """
    for person in (SARA, OMID, ADMIN, EDITOR):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "webhook",
                "create-user",
                "--username",
                person.username,
                "--role",
                person.role,
                "--display-name",
                person.display_name,
            ],
            input=person.password + "\n",
            env={**os.environ, "DATABASE_URL": stack.database_url},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert person.username in done.stdout, done.stdout
    yield {"sara": SARA, "omid": OMID, "admin": ADMIN, "editor": EDITOR}
    for person in (SARA, OMID):
        httpx.post(
            f"{stack.base_url}/api/agent/presence",
            json={"available": False},
            headers={"Authorization": f"Bearer {api_token(stack, person)}"},
            timeout=30,
        )


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (each one its own cookie jar and storage), closed after it."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def new_context(browser: Browser, contexts: list[BrowserContext], **options: Any) -> BrowserContext:
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900}, **options)
    contexts.append(context)
    return context


# -- the customer's side ------------------------------------------------------------------
def open_widget(browser: Browser, contexts: list[BrowserContext], stack, lang: str | None = None) -> Page:
    """The product's own page with its widget (open on load), as a new customer."""
    context = new_context(browser, contexts)
    if lang:
        context.add_init_script(f"localStorage.setItem('larkspur.lang', '{lang}')")
    page = context.new_page()
    page.goto(stack.base_url + "/")
    expect(page.locator("#larkspur-widget [role=dialog]")).to_be_visible()
    return page


def wait_for_value(read, timeout: float = 30, what: str = "a value"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def conversation_of(stack, channel: str, external_id: str) -> str:
    """The id of the newest conversation of the customer known on ``channel`` as ``external_id``."""

    def read() -> str | None:
        rows = stack.query(
            "SELECT c.id FROM conversations c JOIN channel_identities i ON i.customer_id = c.customer_id "
            "WHERE i.channel = ? AND i.external_id = ? ORDER BY c.created_at DESC, c.rowid DESC LIMIT 1",
            channel,
            external_id,
        )
        return rows[0][0] if rows else None

    return str(wait_for_value(read, what=f"the {channel} conversation of {external_id}"))


def web_conversation(stack, customer: Page) -> str:
    session = customer.evaluate("localStorage.getItem('larkspur.session')")
    assert session, "the widget has no session token"
    return conversation_of(stack, "web", session_key(session))  # stored as its hash


def telegram_post(stack, update: dict) -> None:
    response = httpx.post(
        f"{stack.base_url}/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret},
        timeout=30,
    )
    assert response.status_code == 200, response.text


# -- the agent's side ----------------------------------------------------------------------
def open_console(browser: Browser, contexts: list[BrowserContext], stack, person: Person) -> Page:
    """An agent signed in (the login API sets the cookie in this context) with the console open and live."""
    context = new_context(browser, contexts)
    context.add_init_script(COUNT_CHIMES)
    signed = context.request.post(
        stack.base_url + "/api/agent/login", data={"username": person.username, "password": person.password}
    )
    assert signed.ok, signed.text()
    page = context.new_page()
    page.goto(stack.base_url + "/agent")
    expect(page).to_have_url(stack.base_url + "/agent")
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE_TIMEOUT)
    return page


def queue_item(console: Page, section: str, conversation_id: str) -> Locator:
    return console.locator(f'#queue-{section} .queue-item[data-id="{conversation_id}"]')


def transcript(console: Page, kind: str = "") -> Locator:
    return console.locator(f"#transcript .msg{'.' + kind if kind else ''}")


def api_token(stack, person: Person) -> str:
    response = httpx.post(
        f"{stack.base_url}/api/agent/login", json={"username": person.username, "password": person.password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def metrics(stack, token: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.base_url}/api/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert response.status_code == 200, (response.status_code, response.text)
    return dict(response.json())


def _csat_count(figures: dict[str, Any], rating: int) -> int:
    """``csat.distribution`` is ``{"1": n … "5": n}`` (docs/agents.md, "Metrics")."""
    return int(figures["csat"]["distribution"][str(rating)])


def _handoffs(figures: dict[str, Any], reason: str) -> int:
    """``handoffs.by_reason`` is ``[{"reason", "count", "rate", "share"}]``."""
    return sum(int(row["count"]) for row in figures["handoffs"]["by_reason"] if row["reason"] == reason)


# == (a) signing in, and who may see what ==================================================
def test_login_redirects_errors_logout_and_customers_are_refused(browser, contexts, stack, users):
    context = new_context(browser, contexts)
    page = context.new_page()

    # no session: the console sends you to sign in, and back afterwards
    page.goto(stack.base_url + "/agent")
    expect(page).to_have_url(re.compile(r"/agent/login\?next=(/|%2F)agent$"))
    expect(page.get_by_role("heading", name="Agent console")).to_be_visible()

    page.get_by_label("Username").fill(SARA.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.screenshot(path=str(ARTIFACTS / "agent-login.png"))
    expect(page).to_have_url(re.compile(r"/agent/login"))
    assert not [c for c in context.cookies() if c["name"] == "larkspur_agent"]

    page.get_by_label("Password").fill(SARA.password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(stack.base_url + "/agent")
    expect(page.locator("#me-name")).to_have_text(SARA.display_name)
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE_TIMEOUT)
    cookie = next(c for c in context.cookies() if c["name"] == "larkspur_agent")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # the page's scripts never see the token
    expect(page.get_by_role("list", name=re.compile("^Waiting"))).to_be_attached()
    expect(page.get_by_role("switch", name="Available")).to_be_checked()

    # a logout ends it: the console asks for a sign-in again
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/agent/login"))
    page.goto(stack.base_url + "/agent")
    expect(page).to_have_url(re.compile(r"/agent/login\?next="))

    # ?next= is followed only to this site's own paths
    for target in ("https://example.com/", "//example.com/agent", "/\\example.com"):
        page.goto(stack.base_url + "/agent/login?next=" + quote(target, safe=""))
        page.get_by_label("Username").fill(SARA.username)
        page.get_by_label("Password").fill(SARA.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(stack.base_url + "/agent")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/agent/login"))

    # a customer with only a widget session is not an agent
    customer = open_widget(browser, contexts, stack)
    ask(customer, "hello")
    expect(messages(customer, "bot").first).to_be_visible(timeout=ANSWER_TIMEOUT)
    session = customer.evaluate("localStorage.getItem('larkspur.session')")
    from_page = customer.evaluate(
        "async () => { const r = await fetch('/api/agent/queue'); return [r.status, await r.json()]; }"
    )
    assert from_page[0] == 401 and from_page[1]["error"] == "unauthorized", from_page
    with_session = httpx.get(f"{stack.base_url}/api/agent/queue", headers={"Authorization": f"Bearer {session}"})
    assert with_session.status_code == 401 and with_session.json()["error"] == "unauthorized", with_session.text
    assert httpx.get(f"{stack.base_url}/agent", follow_redirects=False).status_code == 303

    # an editor may sign in, but the console is not theirs
    editor = new_context(browser, contexts)
    assert editor.request.post(
        stack.base_url + "/api/agent/login", data={"username": EDITOR.username, "password": EDITOR.password}
    ).ok
    refused = editor.new_page()
    answer = refused.goto(stack.base_url + "/agent")
    assert answer is not None and answer.status == 403
    expect(refused.get_by_role("alert")).to_contain_text("cannot use the agent console")
    assert editor.request.get(stack.base_url + "/api/agent/queue").status == 403


# == (b)–(f) a web customer asks for a person; an agent helps; CSAT; metrics =================
def test_handoff_claim_reply_bot_silent_resolve_csat_and_metrics(browser, contexts, stack, users):
    admin_token = api_token(stack, ADMIN)
    before = metrics(stack, admin_token)
    console = open_console(browser, contexts, stack, SARA)
    console.evaluate("window.__sameDocument = true")  # gone if the page reloads
    customer = open_widget(browser, contexts, stack)

    # (b) the customer asks for a person: the queue shows it live, with the badge and a chime
    ask(customer, "I want to talk to a person")
    conversation_id = web_conversation(stack, customer)
    waiting = queue_item(console, "waiting", conversation_id)
    expect(waiting).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(waiting).to_contain_text("The customer asked for a person")
    expect(waiting).to_contain_text("I want to talk to a person")
    expect(waiting.locator(".ch")).to_contain_text(["web"])
    expect(waiting.locator(".position")).to_have_text(re.compile(r"^#\d+$"))
    assert console.evaluate("window.__sameDocument") is True, "the queue was not updated live"
    expect(console.locator("#waiting-badge")).to_have_text(re.compile(r"^[1-9]\d* waiting$"))
    expect(console.locator("#waiting-badge")).to_have_class(re.compile(r"\bhas-waiting\b"))
    expect(console).to_have_title(re.compile(r"^\([1-9]\d*\) "))
    console.wait_for_function("window.__chimes > 0")
    assert stack.query("SELECT reason FROM handoff_requests WHERE conversation_id = ?", conversation_id) == [
        ("customer_request",)
    ]

    # the handoff packet first, then the transcript
    waiting.click()
    expect(waiting).to_have_attribute("aria-current", "true")
    expect(console.locator("#conv")).to_be_visible()
    expect(console.locator("#conv")).to_have_attribute("dir", "ltr")
    expect(console.locator("#packet-reasons")).to_contain_text("The customer asked for a person")
    expect(console.locator("#packet-question")).to_have_text("I want to talk to a person")
    expect(console.locator("#profile-channels")).to_contain_text("web")
    expect(transcript(console, "customer").first).to_contain_text("I want to talk to a person")
    expect(transcript(console, "customer").first.locator(".text")).to_have_attribute("dir", "auto")
    expect(console.get_by_role("log", name=re.compile("Conversation"))).to_be_visible()
    expect(console.locator("#reply-send")).to_be_disabled()  # not hers yet

    # (c) she claims it and replies; the customer sees it under her name
    console.get_by_role("button", name="Claim").click()
    expect(console.locator("#conv-status")).to_have_text("Yours")
    expect(console.get_by_role("button", name="Claim")).to_be_hidden()
    expect(queue_item(console, "mine", conversation_id)).to_be_visible()
    expect(queue_item(console, "waiting", conversation_id)).to_have_count(0)
    expect(messages(customer, "system").filter(has_text=SARA.display_name)).to_have_count(1, timeout=LIVE_TIMEOUT)

    reply = console.get_by_label("Reply to the customer")
    reply.fill("Hi, I'm Sara.")
    reply.press("Shift+Enter")  # a new line, not a send
    reply.type("How can I help?")
    assert reply.input_value() == "Hi, I'm Sara.\nHow can I help?"
    expect(transcript(console, "agent")).to_have_count(0)
    reply.press("Enter")
    expect(reply).to_have_value("")
    expect(transcript(console, "agent")).to_have_count(1)
    expect(transcript(console, "agent").first.locator(".author")).to_have_text(SARA.display_name)
    from_agent = messages(customer, "agent").first
    expect(from_agent).to_contain_text("Hi, I'm Sara.\nHow can I help?", timeout=LIVE_TIMEOUT)
    expect(from_agent.locator(".author")).to_have_text(SARA.display_name)

    # an internal note stays with the agents
    console.get_by_label("Add an internal note").fill("VIP customer: be generous")
    console.get_by_role("button", name="Add note").click()
    expect(console.locator("#notes .note")).to_contain_text(["VIP customer: be generous"])
    expect(console.locator("#transcript")).not_to_contain_text("VIP customer")

    # (d) the bot stays silent while she has it; she sees the customer's message live
    bot_answers = messages(customer, "bot").count()
    ask(customer, "How do I return an item?")
    live = transcript(console, "customer").filter(has_text="How do I return an item?")
    expect(live).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(queue_item(console, "mine", conversation_id)).to_contain_text("How do I return an item?")
    customer.wait_for_timeout(QUIET_S * 1000)
    expect(messages(customer, "bot")).to_have_count(bot_answers)
    assert console.evaluate("window.__sameDocument") is True

    # she finds the article in the help centre and sends its link
    console.get_by_label("Search articles").fill("return an item")
    console.get_by_role("search").get_by_role("button", name="Search").click()
    found = console.locator("#kb-results li").filter(has_text=RETURN_TITLE_EN)
    expect(found).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(found.get_by_role("link")).to_have_attribute("href", "/help/return-an-item?lang=en")
    found.get_by_role("button", name="Insert").click()
    expect(reply).to_be_focused()
    expect(reply).to_have_value(f"{RETURN_TITLE_EN}\n{stack.base_url}/help/return-an-item?lang=en")
    reply.press("Enter")
    link = messages(customer, "agent").nth(1)
    expect(link).to_contain_text(RETURN_TITLE_EN, timeout=LIVE_TIMEOUT)
    expect(link.locator("a")).to_have_attribute("href", f"{stack.base_url}/help/return-an-item?lang=en")
    expect(customer.locator("#larkspur-widget")).not_to_contain_text("VIP")
    console.screenshot(path=str(ARTIFACTS / "agent-console.png"), full_page=True)
    customer.screenshot(path=str(ARTIFACTS / "agent-console-customer.png"))

    # (e) she resolves it: the customer is asked for a rating, presses 5, and it is stored
    console.get_by_role("button", name="Resolve").click()
    expect(console.locator("#conv-status")).to_have_text("Resolved")
    expect(queue_item(console, "mine", conversation_id)).to_have_count(0)
    question = messages(customer).filter(has_text="How satisfied")
    expect(question).to_have_count(1, timeout=LIVE_TIMEOUT)
    for n in range(1, 6):
        expect(question.get_by_role("button", name=str(n), exact=True)).to_be_visible()
    question.get_by_role("button", name="5", exact=True).click()
    after_rating = messages(customer, "bot").filter(has_text=re.compile(r"tell us more|Thanks for your feedback"))
    expect(after_rating).to_have_count(1, timeout=ANSWER_TIMEOUT)
    comment = None
    if "tell us more" in after_rating.inner_text():
        comment = "Sara was quick and kind"
        ask(customer, comment)
        expect(messages(customer, "bot").filter(has_text="Thanks for your feedback")).to_have_count(
            1, timeout=ANSWER_TIMEOUT
        )
    [(sara_id,)] = stack.query("SELECT id FROM users WHERE username = ?", SARA.username)
    stored = wait_for_value(
        lambda: stack.query(
            "SELECT rating, resolver, agent_id, channel, language, comment FROM csat_responses "
            "WHERE conversation_id = ? AND rating IS NOT NULL AND (? IS NULL OR comment IS NOT NULL)",
            conversation_id,
            comment,
        ),
        what="the stored CSAT answer",
    )
    assert stored == [(5, "agent", sara_id, "web", "en", comment)]
    assert stack.query("SELECT status FROM conversations WHERE id = ?", conversation_id) == [("resolved",)]

    # (f) the metrics count it (admins only)
    after = metrics(stack, admin_token)
    assert after["csat"]["answered"] >= before["csat"]["answered"] + 1, (before["csat"], after["csat"])
    assert _csat_count(after, 5) >= _csat_count(before, 5) + 1, (before["csat"], after["csat"])
    assert _handoffs(after, "customer_request") >= _handoffs(before, "customer_request") + 1, after["handoffs"]
    assert after["csat"]["agent"]["answered"] >= before["csat"]["agent"]["answered"] + 1, after["csat"]["agent"]
    [hers] = [row for row in after["csat"]["agents"] if row["username"] == SARA.username]
    assert (hers["display_name"], hers["answered"], hers["average"], hers["distribution"]["5"]) == (
        SARA.display_name,
        1,
        5,
        1,
    ), hers
    as_agent = httpx.get(f"{stack.base_url}/api/metrics", headers={"Authorization": f"Bearer {api_token(stack, SARA)}"})
    assert as_agent.status_code == 403 and as_agent.json()["error"] == "forbidden", as_agent.text


# == (g) a Persian conversation reads right to left =========================================
def test_a_persian_conversation_is_right_to_left_in_the_console(browser, contexts, stack, users):
    console = open_console(browser, contexts, stack, SARA)
    customer = open_widget(browser, contexts, stack, lang="fa")
    expect(customer.locator("#larkspur-widget [role=dialog]")).to_have_attribute("dir", "rtl")
    ask(customer, "می‌خواهم با یک انسان صحبت کنم")
    conversation_id = web_conversation(stack, customer)
    waiting = queue_item(console, "waiting", conversation_id)
    expect(waiting).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(waiting.locator(".tag.lang")).to_have_text("fa")
    expect(waiting.locator(".last")).to_have_attribute("dir", "auto")
    waiting.click()

    conv = console.locator("#conv")
    expect(conv).to_have_attribute("dir", "rtl")
    expect(conv).to_have_attribute("lang", "fa")
    said = transcript(console, "customer").first.locator(".text")
    expect(said).to_have_text("می‌خواهم با یک انسان صحبت کنم")
    assert said.evaluate("e => getComputedStyle(e).direction") == "rtl"
    expect(console.locator("#kb-lang")).to_have_value("fa")

    console.get_by_role("button", name="Claim").click()
    expect(console.locator("#conv-status")).to_have_text("Yours")
    console.get_by_label("Reply to the customer").fill("سلام! چطور می‌توانم کمکتان کنم؟")
    console.get_by_label("Reply to the customer").press("Enter")
    sent = transcript(console, "agent").first.locator(".text")
    expect(sent).to_have_text("سلام! چطور می‌توانم کمکتان کنم؟")
    assert sent.evaluate("e => getComputedStyle(e).direction") == "rtl"
    expect(messages(customer, "agent").first).to_contain_text("سلام! چطور", timeout=LIVE_TIMEOUT)
    # an English note in a Persian conversation still reads left to right
    console.get_by_label("Add an internal note").fill("Asked in Persian; prefers Persian replies.")
    console.get_by_role("button", name="Add note").click()
    note = console.locator("#notes .note .text").first
    expect(note).to_have_text("Asked in Persian; prefers Persian replies.")
    assert note.evaluate("e => getComputedStyle(e).direction") == "ltr"
    console.screenshot(path=str(ARTIFACTS / "agent-console-rtl.png"), full_page=True)

    console.get_by_role("button", name="Give back to bot").click()  # leave the queue as it was
    expect(console.locator("#conv-status")).to_have_text("With the bot")


# == (h) a Telegram customer, a web agent ===================================================
def test_a_telegram_customer_is_answered_from_the_console(browser, contexts, stack, users):
    fake = stack.telegram
    user = 770_000_000 + secrets.randbelow(10_000_000)
    console = open_console(browser, contexts, stack, SARA)

    since = fake.mark()
    telegram_post(stack, fake.text_update(user, "/human", first_name="Leyla"))
    conversation_id = conversation_of(stack, "telegram", str(user))
    waiting = queue_item(console, "waiting", conversation_id)
    expect(waiting).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(waiting.locator(".ch")).to_contain_text(["telegram"])
    expect(waiting).to_contain_text("The customer asked for a person")
    waiting.click()
    console.get_by_role("button", name="Claim").click()
    expect(console.locator("#conv-status")).to_have_text("Yours")

    console.get_by_label("Reply to the customer").fill("Hello Leyla, Sara here. What can I do for you?")
    console.get_by_label("Reply to the customer").press("Enter")
    expect(transcript(console, "agent").last.locator(".ch")).to_have_text("telegram")

    def the_reply(call) -> bool:  # type: ignore[no-untyped-def]
        text = call.params.get("text", "")
        return call.ok and call.params.get("chat_id") == user and "What can I do for you?" in text

    sent = fake.wait_for("sendMessage", the_reply, timeout=60, since=since)
    assert SARA.display_name in sent.params["text"], sent.params

    # the customer answers on Telegram: the agent sees it live, marked as Telegram, and the bot keeps out
    quiet = fake.mark()
    telegram_post(stack, fake.text_update(user, "How do I return an item?", first_name="Leyla"))
    from_telegram = transcript(console, "customer").filter(has_text="How do I return an item?")
    expect(from_telegram).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(from_telegram.locator(".ch")).to_have_text("telegram")
    time.sleep(QUIET_S)
    to_customer = [
        c.params.get("text")
        for c in fake.calls()[quiet:]
        if c.method == "sendMessage" and c.params.get("chat_id") == user
    ]
    assert to_customer == [], to_customer

    # resolved from the console: Telegram gets the rating question as an inline keyboard
    mark = fake.mark()
    console.get_by_role("button", name="Resolve").click()
    expect(console.locator("#conv-status")).to_have_text("Resolved")

    def rating(call) -> bool:  # type: ignore[no-untyped-def]
        return call.ok and call.params.get("chat_id") == user and "How satisfied" in call.params.get("text", "")

    asked = fake.wait_for("sendMessage", rating, timeout=60, since=mark)
    keys = [b["text"] for row in asked.params["reply_markup"]["inline_keyboard"] for b in row]
    assert keys == ["1", "2", "3", "4", "5"], keys


# == (i) a transfer, a lost race, and back to the bot ========================================
def test_taken_transfer_and_give_back_to_the_bot(browser, contexts, stack, users):
    sara = open_console(browser, contexts, stack, SARA)
    customer = open_widget(browser, contexts, stack)
    ask(customer, "I want to talk to a person")
    conversation_id = web_conversation(stack, customer)
    expect(queue_item(sara, "waiting", conversation_id)).to_be_visible(timeout=ANSWER_TIMEOUT)

    # Omid's console has no live socket, so it still offers Claim after Sara took it
    omid_context = new_context(browser, contexts)
    omid_context.route_web_socket(re.compile(r"/ws/agent$"), lambda ws: ws.close(code=1011, reason="offline"))
    assert omid_context.request.post(
        stack.base_url + "/api/agent/login", data={"username": OMID.username, "password": OMID.password}
    ).ok
    omid = omid_context.new_page()
    omid.goto(f"{stack.base_url}/agent#conversation={conversation_id}")
    expect(omid.locator("#conv")).to_be_visible()
    expect(omid.get_by_role("button", name="Claim")).to_be_visible()

    queue_item(sara, "waiting", conversation_id).click()
    sara.get_by_role("button", name="Claim").click()
    expect(sara.locator("#conv-status")).to_have_text("Yours")
    omid.get_by_role("button", name="Claim").click()
    expect(omid.locator("#conv-error")).to_have_text(f"Already taken by {SARA.display_name}.")
    expect(omid.locator("#conv-status")).to_have_text(f"With {SARA.display_name}")

    # Sara hands it to Omid
    sara.get_by_label("Transfer to").fill(OMID.username)
    sara.locator("#transfer-form").get_by_role("button", name="Transfer").click()
    expect(sara.locator("#conv-status")).to_have_text(f"With {OMID.display_name}")
    expect(queue_item(sara, "others", conversation_id)).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(messages(customer, "system").filter(has_text=OMID.display_name)).to_have_count(1, timeout=LIVE_TIMEOUT)

    # Omid gives it back to the bot, which answers again
    omid.reload()
    expect(omid.locator("#conv-status")).to_have_text("Yours")
    omid.get_by_role("button", name="Give back to bot").click()
    expect(omid.locator("#conv-status")).to_have_text("With the bot")
    expect(messages(customer).filter(has_text="back with the assistant")).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(queue_item(sara, "others", conversation_id)).to_have_count(0, timeout=LIVE_TIMEOUT)
    assert stack.query("SELECT status, agent_id FROM conversations WHERE id = ?", conversation_id) == [("bot", None)]
    bot_answers = messages(customer, "bot").count()
    ask(customer, "How do I return an item?")
    expect(messages(customer, "bot").nth(bot_answers)).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(messages(customer, "bot").filter(has_text=RETURN_TITLE_EN)).to_have_count(1, timeout=ANSWER_TIMEOUT)
