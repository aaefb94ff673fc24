"""Telegram's wire format: message length, HTML, inline keyboards, and a button's callback data."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from knowledge_base.text import LANGUAGES

BUTTON_TITLE_CHARS = 64  # Telegram cuts longer labels anyway; cutting here keeps the request valid
_BUTTON_DATA = re.compile(r"b:(\d+):(\d+)")


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut a long reply into messages Telegram accepts: at a paragraph, else a line, else a space."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or max(window.rfind(" "), 0) or limit
        if cut < limit // 2:  # no good boundary: a hard cut beats a tiny message
            cut = window.rfind(" ") if window.rfind(" ") > limit // 2 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks or [""]


def to_html(text: str) -> str:
    """Our replies' light Markdown (``**bold**``) as Telegram HTML; everything else escaped."""
    return re.sub(r"\*\*([^*\n]+)\*\*", r"<b>\1</b>", html.escape(text, quote=False))


@dataclass(frozen=True)
class ButtonRef:
    """Which button was pressed: the stored message that offered it, and its place in that message's list."""

    message_id: int
    index: int

    def callback_data(self) -> str:
        """``b:<message id>:<index>``: short enough for Telegram's 64-byte limit, whatever the payload."""
        return f"b:{self.message_id}:{self.index}"

    @classmethod
    def read(cls, data: str) -> ButtonRef | None:
        """The button a callback's data names; None for data we did not write."""
        match = _BUTTON_DATA.fullmatch(data)
        return cls(int(match[1]), int(match[2])) if match else None


def inline_keyboard(message_id: int, buttons: list[dict[str, str]]) -> InlineKeyboardMarkup | None:
    """A stored message's buttons, one per row; None when it has none."""
    if not buttons:
        return None
    rows = [
        [
            InlineKeyboardButton(
                button["title"][:BUTTON_TITLE_CHARS], callback_data=ButtonRef(message_id, i).callback_data()
            )
        ]
        for i, button in enumerate(buttons)
    ]
    return InlineKeyboardMarkup(rows)


def supported_language(code: str | None) -> str | None:
    """A Telegram user's ``language_code`` (``"fa-IR"``) as one of our languages, or None."""
    base = (code or "").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None
