"""The chat page in real Chromium (Debian's), driven by Playwright."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: ./test.sh installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, stack) -> Page:
    context = browser.new_context(base_url=stack.base_url, locale="en-US")
    page = context.new_page()
    yield page
    context.close()


def test_ask_press_a_button_and_reload(page: Page):
    page.goto("/")
    page.fill("#text", "How do I return an item?")
    page.press("#text", "Enter")
    answer = page.locator(".msg.bot").first
    expect(answer).to_contain_text("How do I return an item?", timeout=60_000)
    link = answer.locator("a").first
    expect(link).to_have_attribute("target", "_blank")
    answer.get_by_role("button", name="Yes, thanks").click()
    expect(page.locator(".msg.bot").nth(1)).to_contain_text("Glad I could help", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "chat-en.png"))
    page.reload()
    expect(page.locator(".msg")).to_have_count(4, timeout=30_000)


def test_persian_is_right_to_left_and_rendered(page: Page):
    page.goto("/")
    page.select_option("#lang", "fa")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    page.fill("#text", "چطور یک کالا را مرجوع کنم؟")
    page.press("#text", "Enter")
    answer = page.locator(".msg.bot").first
    expect(answer).to_contain_text("مرجوع", timeout=60_000)
    assert answer.locator("strong").count() >= 1  # **bold** in the article is drawn bold, not as asterisks
    page.screenshot(path=str(ARTIFACTS / "chat-fa.png"))
    # the glyphs are drawn by a real font, not tofu: Persian text has a width
    width = page.evaluate("""() => { const s = document.createElement('span');
        s.textContent = 'سلام'; document.body.appendChild(s); return s.getBoundingClientRect().width; }""")
    assert width > 10


def test_message_text_is_never_run_as_html(page: Page):
    page.goto("/")
    page.fill("#text", '<img src=x onerror="window.__pwned=1"><b>bold</b>')
    page.press("#text", "Enter")
    mine = page.locator(".msg.customer").first
    expect(mine).to_contain_text("<b>bold</b>")
    expect(page.locator(".msg.bot").first).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".msg img").count() == 0
