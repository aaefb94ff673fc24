"""Locators for the chat widget in a page (it lives in an open shadow root, which Playwright pierces)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


def launcher(page: Page) -> Locator:
    return page.locator("#larkspur-widget button.launcher")


def panel(page: Page) -> Locator:
    return page.locator("#larkspur-widget [role=dialog]")


def composer(page: Page) -> Locator:
    return page.locator("#larkspur-widget input.text")


def messages(page: Page, kind: str = "") -> Locator:
    """The panel's messages; ``kind`` is customer, bot, agent or system."""
    return page.locator(f"#larkspur-widget .msg{'.' + kind if kind else ''}")


def ask(page: Page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")
