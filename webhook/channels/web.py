"""The website channel: the widget's WebSocket, its REST fallback, and the demo page.

The WebSocket protocol is documented in ``docs/web-widget.md``. A message is
acknowledged once stored; every message of the conversation (replies, the
customer's own from other tabs or Telegram, an agent's) reaches the socket
through the event bus, and a socket that (re)subscribes first catches up from
the store, so nothing shown depends on an event not being missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError

from webhook.domain import identity
from webhook.domain.enums import Channel
from webhook.domain.errors import BotUnavailable, LinkError, MessageRejected
from webhook.domain.messages import InboundMessage, Stored
from webhook.runtime.events import Subscription, conversation_topic
from webhook.services.conversations import ConversationService

log = logging.getLogger(__name__)
SESSION_PATTERN = "^[A-Za-z0-9_-]{8,200}$"
HELLO_TIMEOUT_S = 10.0


class Button(BaseModel):
    title: str
    payload: str


class Reply(BaseModel):
    text: str
    buttons: list[Button] = []


class ChatRequest(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN, description="The browser's chat session token")
    text: str = Field(description="What the customer wrote, or the label of the button pressed")
    payload: str | None = Field(None, max_length=500, description="A pressed button's payload")
    client_message_id: str | None = Field(None, max_length=100, description="Makes a resend idempotent")
    lang: str | None = Field(None, pattern="^(en|fa|ar)$", description="The widget's UI language")


class ChatResponse(BaseModel):
    conversation_id: str
    replies: list[Reply]


class HistoryMessage(BaseModel):
    id: int
    sender: str
    channel: str
    text: str
    buttons: list[Button]
    created_at: str


class HistoryResponse(BaseModel):
    conversation_id: str | None
    messages: list[HistoryMessage]


class LinkRequest(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN)


class LinkResponse(BaseModel):
    code: str
    url: str = Field(description="Opens the Telegram bot with this code: https://t.me/<bot>?start=<code>")
    expires_at: datetime


# -- WebSocket frames (client to server) ------------------------------------------------
class SignedUser(BaseModel):
    id: str = Field(min_length=1, max_length=150)
    signature: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)


class HelloFrame(BaseModel):
    type: Literal["hello"]
    session: str = Field(pattern=SESSION_PATTERN)
    lang: Literal["en", "fa", "ar"] | None = None
    after: int = Field(0, ge=0)
    link: str | None = Field(None, max_length=100)
    user: SignedUser | None = None


class MessageFrame(BaseModel):
    type: Literal["message"]
    client_message_id: str = Field(min_length=1, max_length=100)
    text: str
    payload: str | None = Field(None, max_length=500)


class WebChatSocket:
    """One widget connection: reads frames, forwards the conversation's events."""

    def __init__(self, ws: WebSocket, service: ConversationService, hello: HelloFrame, features: dict[str, Any]):
        self.ws = ws
        self.service = service
        self.session = hello.session
        self.lang = hello.lang
        self.last_sent = hello.after
        self.features = features
        self.conversation_id: str | None = None
        self.subscription: Subscription | None = None
        self.send_lock = asyncio.Lock()
        self.inbox: asyncio.Queue[MessageFrame] = asyncio.Queue()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_json(frame)

    async def follow(self, conversation_id: str | None) -> None:
        """Listen to ``conversation_id`` and send what this window has not seen yet."""
        if conversation_id == self.conversation_id and self.subscription is not None:
            return
        if self.subscription is not None:
            self.subscription.close()
            self.subscription.put({"type": "switched"})  # wakes the forwarder waiting on the old one
            self.subscription = None
        self.conversation_id = conversation_id
        if conversation_id is None:
            return
        self.subscription = self.service.bus.subscribe(conversation_topic(conversation_id))
        _, messages = await self.service.transcript(Channel.WEB, self.session, self.last_sent)
        for message in messages:
            await self.forward_message(message.as_json())

    async def forward_message(self, message: dict[str, Any]) -> None:
        if message["id"] <= self.last_sent:
            return  # already sent (caught up from the store and then published)
        self.last_sent = message["id"]
        await self.send({"type": "message", "message": message})

    async def run(self) -> None:
        conversation_id, messages = await self.service.transcript(Channel.WEB, self.session, self.last_sent)
        self.conversation_id = conversation_id
        if conversation_id is not None:
            self.subscription = self.service.bus.subscribe(conversation_topic(conversation_id))
        await self.send(
            {
                "type": "ready",
                "conversation_id": conversation_id,
                "messages": [m.as_json() for m in messages],
                "features": self.features,
            }
        )
        if messages:
            self.last_sent = messages[-1].id
        tasks = [
            asyncio.create_task(self.read(), name="ws-read"),
            asyncio.create_task(self.work(), name="ws-work"),
            asyncio.create_task(self.forward(), name="ws-forward"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() and not isinstance(task.exception(), WebSocketDisconnect):
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task
            if self.subscription is not None:
                self.subscription.close()

    async def read(self) -> None:
        while True:
            raw = await self.ws.receive_text()
            try:
                frame = _parse_json(raw)
                kind = frame.get("type")
                if kind == "ping":
                    await self.send({"type": "pong"})
                elif kind == "message":
                    self.inbox.put_nowait(MessageFrame.model_validate(frame))
                else:
                    await self.error("bad_frame", f"unknown frame type {kind!r}")
            except (ValueError, ValidationError) as exc:
                await self.error("bad_frame", _problem(exc))

    async def work(self) -> None:
        """Messages one at a time, in the order they came."""
        while True:
            frame = await self.inbox.get()
            inbound = InboundMessage(
                channel=Channel.WEB,
                external_id=self.session,
                text=frame.text,
                payload=frame.payload,
                client_message_id=frame.client_message_id,
                language=self.lang,
            )

            async def acknowledge(stored: Stored, frame: MessageFrame = frame) -> None:
                await self.follow(stored.conversation_id)
                await self.send(
                    {
                        "type": "ack",
                        "client_message_id": frame.client_message_id,
                        "message_id": stored.message_id,
                        "duplicate": stored.duplicate,
                    }
                )

            try:
                await self.service.handle(inbound, on_stored=acknowledge)
            except MessageRejected as exc:
                await self.error("invalid_message", str(exc), frame.client_message_id)
            except BotUnavailable as exc:
                await self.error("bot_unavailable", str(exc), frame.client_message_id)

    async def forward(self) -> None:
        while True:
            if self.subscription is None:
                await asyncio.sleep(0.05)
                continue
            subscription = self.subscription
            event = await subscription.get()
            if subscription is not self.subscription:
                continue  # switched conversations meanwhile
            if event.get("type") == "message":
                await self.forward_message(event["message"])
            elif event.get("type") == "typing":
                await self.send({"type": "typing", "on": bool(event.get("on"))})

    async def error(self, code: str, detail: str, client_message_id: str | None = None) -> None:
        await self.send({"type": "error", "error": code, "detail": detail, "client_message_id": client_message_id})


def _parse_json(raw: str) -> dict[str, Any]:
    import json

    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("a frame must be a JSON object")
    return value


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc) or "not valid JSON"


def origin_allowed(origin: str | None, allowed: str) -> bool:
    entries = [o.strip().rstrip("/") for o in allowed.split(",") if o.strip()]
    return "*" in entries or origin is None or origin.rstrip("/") in entries


def web_router(templates) -> APIRouter:  # type: ignore[no-untyped-def]
    router = APIRouter(tags=["web chat"])

    def service(request: Request) -> ConversationService:
        return request.app.state.conversations

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @router.post(
        "/api/chat",
        response_model=ChatResponse,
        responses={422: {"description": "Invalid message"}, 503: {"description": "Stored, but the bot is down"}},
    )
    async def chat(request: Request, body: ChatRequest) -> ChatResponse | JSONResponse:
        """Send one customer message and get the bot's replies (the web channel, synchronous form)."""
        inbound = InboundMessage(
            channel=Channel.WEB,
            external_id=body.session,
            text=body.text,
            payload=body.payload,
            client_message_id=body.client_message_id,
            language=body.lang,
        )
        try:
            outcome = await service(request).handle(inbound)
        except MessageRejected as exc:
            return JSONResponse({"error": "invalid_message", "detail": str(exc)}, status_code=422)
        except BotUnavailable as exc:
            return JSONResponse(
                {"error": "bot_unavailable", "detail": str(exc), "conversation_id": exc.conversation_id},
                status_code=503,
            )
        return ChatResponse(
            conversation_id=outcome.conversation_id,
            replies=[Reply(text=r.text, buttons=[Button(**b) for b in r.buttons]) for r in outcome.replies],
        )

    @router.get("/api/chat/history", response_model=HistoryResponse)
    async def history(request: Request, session: str = Query(pattern=SESSION_PATTERN)) -> HistoryResponse:
        """The open conversation of a chat session, to restore the window after a reload."""
        conversation_id, messages = await service(request).transcript(Channel.WEB, session)
        return HistoryResponse(
            conversation_id=conversation_id,
            messages=[
                HistoryMessage(
                    id=m.id,
                    sender=m.sender,
                    channel=m.channel,
                    text=m.text,
                    buttons=[Button(**b) for b in m.buttons],
                    created_at=m.created_at.isoformat(),
                )
                for m in messages
            ],
        )

    @router.post(
        "/api/chat/telegram-link",
        response_model=LinkResponse,
        responses={404: {"description": "No Telegram bot is configured"}},
    )
    async def telegram_link(request: Request, body: LinkRequest) -> LinkResponse | JSONResponse:
        """A one-time code that joins a Telegram account to this chat's customer and conversation."""
        telegram = getattr(request.app.state, "telegram", None)
        if telegram is None or not telegram.username:
            return JSONResponse(
                {"error": "telegram_unavailable", "detail": "no Telegram bot is configured"}, status_code=404
            )
        issued = await service(request).issue_link(Channel.WEB, body.session, Channel.TELEGRAM)
        return LinkResponse(
            code=issued.code, url=f"https://t.me/{telegram.username}?start={issued.code}", expires_at=issued.expires_at
        )

    @router.websocket("/ws/chat")
    async def chat_socket(ws: WebSocket) -> None:
        """The widget's live connection (protocol: docs/web-widget.md)."""
        state = ws.app.state
        if not origin_allowed(ws.headers.get("origin"), state.settings.widget_allowed_origins):
            await ws.close(code=4403, reason="origin not allowed")
            return
        await ws.accept()
        try:
            raw = await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT_S)
            hello = HelloFrame.model_validate(_parse_json(raw))
        except (TimeoutError, ValueError, ValidationError) as exc:
            await ws.send_json(
                {
                    "type": "error",
                    "error": "bad_frame",
                    "detail": f"expected hello: {_problem(exc)}",
                    "client_message_id": None,
                }
            )
            await ws.close(code=4400)
            return
        except WebSocketDisconnect:
            return
        conversations: ConversationService = state.conversations
        try:
            if hello.user is not None:
                secret = state.settings.widget_identity_secret
                if not identity.verify(secret, hello.user.id, hello.user.signature):
                    detail = "the user signature is not valid" if secret else "identity verification is not set up"
                    await ws.send_json(
                        {"type": "error", "error": "invalid_identity", "detail": detail, "client_message_id": None}
                    )
                    await ws.close(code=4403)
                    return
                await conversations.identify(
                    Channel.WEB, hello.session, identity.user_key(hello.user.id), hello.user.name
                )
            if hello.link:
                try:
                    await conversations.redeem_link(hello.link, Channel.WEB, hello.session, hello.lang)
                except LinkError as exc:
                    await ws.send_json(
                        {"type": "error", "error": "invalid_link", "detail": str(exc), "client_message_id": None}
                    )
            telegram = getattr(state, "telegram", None)
            features = {"telegram": bool(telegram is not None and telegram.username)}
            await WebChatSocket(ws, conversations, hello, features).run()
        except WebSocketDisconnect:
            return

    return router
