"""The Telegram channel, on python-telegram-bot's ``Bot`` and ``Update`` types.

In: an update arrives by webhook (``POST /telegram/webhook``) or by polling. It
is stored under its ``update_id`` before it is acknowledged, so Telegram's
retries are processed once and an update survives a crash between receipt and
processing. Updates of one chat are processed in order.

Out: replies are stored messages on the Telegram channel; the outbox sends them
(split to Telegram's length limit, buttons as inline keyboards) and marks them
delivered, retrying after errors and after restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from knowledge_base.text import LANGUAGES
from webhook.domain.enums import Channel
from webhook.domain.errors import BotUnavailable, LinkError, MessageRejected, TelegramConfigError
from webhook.domain.messages import BotReply, InboundMessage
from webhook.domain.phrases import phrase
from webhook.runtime.events import MESSAGES_TOPIC
from webhook.services.conversations import ConversationService
from webhook.settings import Settings
from webhook.store import outbox
from webhook.store.database import Database

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
LANGUAGE_BUTTONS = [("English", "en"), ("فارسی", "fa"), ("العربية", "ar")]
SWEEP_INTERVAL_S = 5.0  # how often the outbox looks for replies to retry
POLL_TIMEOUT_S = 25
ATTACHMENT_KINDS = ("photo", "document", "voice", "audio", "video", "video_note", "sticker", "animation", "location")


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


def attachment_of(message: Message) -> dict[str, Any] | None:
    """What a non-text message carried, kept so that an agent can fetch it later."""
    for kind in ATTACHMENT_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        item = value[-1] if isinstance(value, tuple) else value  # photos come in sizes; keep the largest
        found: dict[str, Any] = {"kind": kind}
        for attribute in ("file_id", "file_unique_id", "file_name", "mime_type", "file_size", "duration"):
            if getattr(item, attribute, None) is not None:
                found[attribute] = getattr(item, attribute)
        if message.caption:
            found["caption"] = message.caption
        return found
    if message.text is None:
        return {"kind": "other"}
    return None


class TelegramChannel:
    """Receives updates, turns them into :class:`InboundMessage`, and delivers the outbox."""

    def __init__(self, settings: Settings, service: ConversationService, db: Database) -> None:
        if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
            raise TelegramConfigError("TELEGRAM_WEBHOOK_URL is set: set TELEGRAM_WEBHOOK_SECRET too")
        self.settings = settings
        self.service = service
        self.db = db
        base = settings.telegram_api_base_url
        file_base = settings.telegram_api_file_url or base.replace("/bot", "/file/bot", 1)
        self.bot = Bot(settings.telegram_bot_token, base_url=base, base_file_url=file_base)
        self.username: str | None = None
        self.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        self._tasks: list[asyncio.Task[None]] = []
        self._chats: dict[str, asyncio.Queue[tuple[int, dict[str, Any]]]] = {}
        self._chat_workers: set[asyncio.Task[None]] = set()
        self._deliver_lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def polling(self) -> bool:
        return not self.settings.telegram_webhook_url

    # -- life cycle ------------------------------------------------------------------
    async def start(self) -> None:
        await self.bot.initialize()  # getMe: checks the token and tells our username
        self.username = self.bot.username
        if self.polling:
            await self.bot.delete_webhook()
        else:
            await self.bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        with contextlib.suppress(TelegramError):  # the command menu is a nicety
            await self.bot.set_my_commands(
                [
                    ("start", "Start, or link this chat with a code"),
                    ("help", "What I can do"),
                    ("human", "Talk to a person"),
                    ("language", "Choose your language"),
                    ("web", "Continue on the website"),
                ]
            )
        self._tasks.append(asyncio.create_task(self._deliver_forever(), name="telegram-outbox"))
        self._tasks.append(asyncio.create_task(self._resume_pending(), name="telegram-resume"))
        if self.polling:
            self._tasks.append(asyncio.create_task(self._poll_forever(), name="telegram-poll"))
        log.info("telegram: @%s, %s", self.username, "polling" if self.polling else "webhook")

    async def stop(self) -> None:
        for task in [*self._tasks, *self._chat_workers]:
            task.cancel()
        for task in [*self._tasks, *self._chat_workers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    # -- receiving ---------------------------------------------------------------------
    async def receive(self, payload: dict[str, Any]) -> bool:
        """Store an update and queue it; False for an ``update_id`` seen before."""
        update_id = int(payload["update_id"])
        async with self.db.session() as session:
            if not await outbox.store_update(session, update_id, payload):
                return False
        self._enqueue(update_id, payload)
        return True

    async def _resume_pending(self) -> None:
        """Updates stored before a restart but never processed."""
        async with self.db.session() as session:
            pending = await outbox.pending_updates(session)
        for update_id, payload in pending:
            self._enqueue(update_id, payload)

    def _enqueue(self, update_id: int, payload: dict[str, Any]) -> None:
        chat = _chat_key(payload)
        queue = self._chats.get(chat)
        if queue is None:
            queue = self._chats[chat] = asyncio.Queue()
            worker = asyncio.create_task(self._chat_worker(chat, queue), name=f"telegram-chat-{chat}")
            self._chat_workers.add(worker)
            worker.add_done_callback(self._chat_workers.discard)
        queue.put_nowait((update_id, payload))

    async def _chat_worker(self, chat: str, queue: asyncio.Queue[tuple[int, dict[str, Any]]]) -> None:
        """One chat's updates, in order; the worker ends when its queue is empty."""
        try:
            while not queue.empty():
                update_id, payload = queue.get_nowait()
                error = None
                try:
                    await self.process(payload)
                except BotUnavailable as exc:
                    error = str(exc)  # the message is stored; the customer is told by the outbox sweep below
                    await self._tell_unavailable(payload)
                except Exception as exc:  # one bad update must not stop the chat
                    log.exception("telegram: update %s failed", update_id)
                    error = repr(exc)
                async with self.db.session() as session:
                    await outbox.finish_update(session, update_id, error)
        finally:
            if self._chats.get(chat) is queue:
                del self._chats[chat]

    async def process(self, payload: dict[str, Any]) -> None:
        update = Update.de_json(payload, self.bot)
        if update.callback_query is not None:
            await self._on_callback(update)
            return
        message = update.message or update.edited_message
        if message is None or message.from_user is None:
            return  # other update kinds (membership changes, ...) need nothing
        if message.chat.type != "private":
            await self._on_group_message(message)
            return
        await self._on_private_message(message, edited=update.edited_message is not None)

    async def _on_group_message(self, message: Message) -> None:
        """Support happens in private: answer a mention with a link to a private chat, ignore the rest."""
        mention = f"@{self.username}".lower() if self.username else None
        text = (message.text or message.caption or "").lower()
        replied_to_us = bool(
            message.reply_to_message
            and message.reply_to_message.from_user
            and message.reply_to_message.from_user.id == self.bot.id
        )
        if not ((mention and mention in text) or replied_to_us):
            return
        user = message.from_user
        lang = _language(user.language_code if user else None)
        url = f"https://t.me/{self.username}"
        await self.bot.send_message(
            message.chat.id, phrase("group_private_only", lang, url=url), reply_to_message_id=message.message_id
        )

    async def _on_private_message(self, message: Message, edited: bool) -> None:
        user = message.from_user
        assert user is not None
        external_id = str(user.id)
        base = InboundMessage(
            Channel.TELEGRAM,
            external_id,
            "",
            language=_language(user.language_code),
            display_name=user.full_name,
            external_message_id=str(message.message_id),
        )
        text = message.text or ""
        attachment = attachment_of(message)
        if edited:
            # A correction: answered as a new message, and recorded as the edit of the earlier one.
            edit = int(message.edit_date.timestamp()) if message.edit_date else 0
            inbound = replace(
                base,
                text=text or message.caption or "",
                client_message_id=f"tg:{message.message_id}:edit:{edit}",
                extra={"edited": message.message_id},
                attachment=attachment,
            )
            await self._send_turn(message.chat.id, inbound)
            return
        if attachment is not None:
            inbound = replace(
                base, text=message.caption or "", client_message_id=f"tg:{message.message_id}", attachment=attachment
            )
            await self._send_turn(message.chat.id, inbound, typing=False)
            return
        if text.startswith("/"):
            await self._on_command(message, text, base)
            return
        await self._send_turn(message.chat.id, replace(base, text=text, client_message_id=f"tg:{message.message_id}"))

    async def _on_command(self, message: Message, text: str, base: InboundMessage) -> None:
        command, _, argument = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # "/help@larkspur_bot" in a menu
        argument = argument.strip()
        client_id = f"tg:{message.message_id}"
        chat_id = message.chat.id
        if command == "/start" and argument:
            try:
                await self.service.redeem_link(
                    argument, Channel.TELEGRAM, base.external_id, base.language, base.display_name
                )
                return
            except LinkError:
                bad_link = True
        else:
            bad_link = False
        if command == "/start":
            inbound = replace(base, text="/start", payload="/greet", client_message_id=client_id)
            await self._send_turn(chat_id, inbound)
            if bad_link:
                conversation_id = await self.service.current_conversation_id(Channel.TELEGRAM, base.external_id)
                if conversation_id:
                    lang = await self.service.language_of(Channel.TELEGRAM, base.external_id)
                    await self.service.post(conversation_id, Channel.TELEGRAM, [BotReply(phrase("invalid_link", lang))])
            return
        if command == "/human":
            inbound = replace(base, text="/human", payload="/request_human", client_message_id=client_id)
            await self._send_turn(chat_id, inbound)
            return
        answers: dict[str, Callable[[str], Awaitable[list[BotReply]]]] = {
            "/language": self._language_menu,
            "/web": self._web_link(base.external_id),
        }
        answer = answers.get(command, self._help)
        inbound = replace(base, text=text, client_message_id=client_id)
        await self._send_turn(chat_id, inbound, answer=answer, typing=False)

    async def _help(self, lang: str) -> list[BotReply]:
        return [BotReply(phrase("telegram_help", lang, help_url=f"{self.public_url}/help?lang={lang}"))]

    async def _language_menu(self, lang: str) -> list[BotReply]:
        buttons = [{"title": title, "payload": f"lang:{code}"} for title, code in LANGUAGE_BUTTONS]
        return [BotReply(phrase("choose_language", lang), buttons)]

    def _web_link(self, external_id: str) -> Callable[[str], Awaitable[list[BotReply]]]:
        async def answer(lang: str) -> list[BotReply]:
            issued = await self.service.issue_link(Channel.TELEGRAM, external_id, Channel.WEB)
            url = f"{self.public_url}/?larkspur_link={issued.code}"
            minutes = max(1, self.settings.link_code_ttl_s // 60)
            return [BotReply(phrase("web_link", lang, url=url, minutes=minutes))]

        return answer

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        with contextlib.suppress(TelegramError):  # stop the button's spinner whatever happens next
            await query.answer()
        if isinstance(query.message, Message):
            with contextlib.suppress(BadRequest):  # a keyboard can only be pressed once
                await self.bot.edit_message_reply_markup(query.message.chat.id, query.message.message_id)
        user = query.from_user
        external_id = str(user.id)
        button = await self._button(external_id, query.data or "")
        if button is None:
            log.warning("telegram: unknown button %r from %s", query.data, external_id)
            return
        payload = button.get("payload", "")
        chat_id = query.message.chat.id if query.message else user.id
        if payload.startswith("lang:") and payload[5:] in LANGUAGES:
            lang = payload[5:]
            await self.service.set_language(Channel.TELEGRAM, external_id, lang)
            inbound = InboundMessage(
                Channel.TELEGRAM, external_id, button["title"], client_message_id=f"tgcb:{query.id}", language=lang
            )

            async def confirm(_detected: str) -> list[BotReply]:
                return [BotReply(phrase("language_set", lang))]

            await self._send_turn(chat_id, inbound, answer=confirm, typing=False)
            return
        inbound = InboundMessage(
            Channel.TELEGRAM,
            external_id,
            button["title"],
            payload=payload,
            client_message_id=f"tgcb:{query.id}",
            language=_language(user.language_code),
            display_name=user.full_name,
        )
        await self._send_turn(chat_id, inbound)

    async def _button(self, external_id: str, data: str) -> dict[str, str] | None:
        match = re.fullmatch(r"b:(\d+):(\d+)", data)
        if match is None:
            return None
        return await self.service.button(Channel.TELEGRAM, external_id, int(match[1]), int(match[2]))

    async def _send_turn(
        self,
        chat_id: int,
        inbound: InboundMessage,
        answer: Callable[[str], Awaitable[list[BotReply]]] | None = None,
        typing: bool = True,
    ) -> None:
        if typing:
            with contextlib.suppress(TelegramError):
                await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        try:
            await self.service.handle(inbound, answer=answer)
        except MessageRejected as exc:  # nothing was stored: say why, straight away
            await self.bot.send_message(chat_id, phrase("message_rejected", inbound.language, detail=exc))

    async def _tell_unavailable(self, payload: dict[str, Any]) -> None:
        """Rasa is down: the message is stored; say so now rather than stay silent."""
        with contextlib.suppress(Exception):
            update = Update.de_json(payload, self.bot)
            chat = update.effective_chat
            user = update.effective_user
            if chat is not None:
                lang = _language(user.language_code if user else None)
                await self.bot.send_message(chat.id, phrase("bot_unavailable", lang))

    # -- polling ---------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        """getUpdates long polling; an update is confirmed to Telegram only once it is stored."""
        async with self.db.session() as session:
            last = await outbox.last_update_id(session)
        offset = (last + 1) if last is not None else None
        delay = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT_S,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=POLL_TIMEOUT_S + 10,
                )
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            for update in updates:
                await self.receive(update.to_dict())
                offset = update.update_id + 1

    # -- delivering ---------------------------------------------------------------------
    async def _deliver_forever(self) -> None:
        subscription = self.service.bus.subscribe(MESSAGES_TOPIC)

        async def watch() -> None:
            async for event in subscription:
                message = event.get("message") or {}
                if message.get("channel") == Channel.TELEGRAM and message.get("sender") != "customer":
                    self._wake.set()

        watcher = asyncio.create_task(watch())
        try:
            while True:
                await self.deliver_pending()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SWEEP_INTERVAL_S)
                self._wake.clear()
        finally:
            watcher.cancel()
            subscription.close()

    async def deliver_pending(self) -> int:
        """Send every undelivered Telegram message this worker can claim; returns how many were sent."""
        sent = 0
        async with self._deliver_lock:
            while True:
                async with self.db.session() as session:
                    batch = await outbox.claim_deliveries(session, Channel.TELEGRAM)
                if not batch:
                    return sent
                for delivery in batch:
                    sent += await self._deliver(delivery)

    async def _deliver(self, delivery: outbox.Delivery) -> int:
        async with self.db.session() as session:
            if delivery.address is None:
                log.error("telegram: message %s has no Telegram chat to go to", delivery.message_id)
                await outbox.give_up(session, delivery.message_id)
                await session.commit()
                return 0
            try:
                external_id = await self._send(int(delivery.address), delivery)
            except RetryAfter as exc:
                wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
                await outbox.release(session, delivery.message_id, float(wait))
                await session.commit()
                return 0
            except (Forbidden, BadRequest) as exc:  # blocked by the user, chat gone: retrying will not help
                log.error("telegram: message %s cannot be delivered: %s", delivery.message_id, exc)
                await outbox.give_up(session, delivery.message_id)
                await session.commit()
                return 0
            except TelegramError as exc:
                log.warning("telegram: message %s not sent yet: %s", delivery.message_id, exc)
                await outbox.release(session, delivery.message_id, 2.0)
                await session.commit()
                return 0
            await outbox.mark_delivered(session, delivery.message_id, external_id)
            await session.commit()
            return 1

    async def _send(self, chat_id: int, delivery: outbox.Delivery) -> str:
        text = delivery.text
        if delivery.author:
            text = f"{delivery.author}:\n{text}"
        chunks = split_text(text)
        keyboard = None
        if delivery.buttons:
            keyboard = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(button["title"][:64], callback_data=f"b:{delivery.message_id}:{i}")]
                    for i, button in enumerate(delivery.buttons)
                ]
            )
        last_id = ""
        for i, chunk in enumerate(chunks):
            sent = await self.bot.send_message(
                chat_id,
                to_html(chunk),
                parse_mode="HTML",
                reply_markup=keyboard if i == len(chunks) - 1 else None,
                link_preview_options=None,
            )
            last_id = str(sent.message_id)
        return last_id


def _language(code: str | None) -> str | None:
    base = (code or "").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def _chat_key(payload: dict[str, Any]) -> str:
    for kind in ("message", "edited_message"):
        if isinstance(payload.get(kind), dict):
            return str(payload[kind].get("chat", {}).get("id", "none"))
    query = payload.get("callback_query")
    if isinstance(query, dict):
        return str(query.get("message", {}).get("chat", {}).get("id") or query.get("from", {}).get("id"))
    return "other"


def telegram_router() -> APIRouter:
    router = APIRouter(tags=["telegram"])

    @router.post(
        "/telegram/webhook",
        responses={403: {"description": "Wrong or missing secret token"}, 404: {"description": "Not configured"}},
    )
    async def webhook(request: Request) -> JSONResponse:
        """Telegram's webhook: the update is stored before the 200, then processed in the background."""
        channel: TelegramChannel | None = getattr(request.app.state, "telegram", None)
        if channel is None or channel.polling:
            return JSONResponse({"error": "not_found", "detail": "the Telegram webhook is not enabled"}, 404)
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), channel.settings.telegram_webhook_secret.encode()):
            return JSONResponse({"error": "forbidden", "detail": "wrong secret token"}, 403)
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": "malformed_json", "detail": "the body is not valid JSON"}, 400)
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return JSONResponse({"error": "invalid_update", "detail": "an update needs an integer update_id"}, 400)
        fresh = await channel.receive(payload)
        return JSONResponse({"ok": True, "duplicate": not fresh})

    return router
