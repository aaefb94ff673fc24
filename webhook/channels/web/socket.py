"""The widget's live connection, ``/ws/chat`` (protocol: ``docs/web-widget.md``).

A message is acknowledged once stored; every message of the conversation
(replies, the customer's own from other tabs or Telegram, an agent's) reaches
the socket through the event bus, and a socket that (re)subscribes first
catches up from the store, so nothing shown depends on an event not being missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from webhook.channels.deps import conversation_service, settings, telegram_username
from webhook.channels.web.limits import ChatGuard, ChatGuardDep
from webhook.channels.web.schemas import (
    AckFrame,
    ConversationMessageFrame,
    ErrorFrame,
    HelloFrame,
    MessageFrame,
    PongFrame,
    ReadyFrame,
    ServerFrame,
    SignedUser,
    TypingFrame,
)
from webhook.domain import identity, origins
from webhook.domain.enums import Channel
from webhook.domain.errors import BotUnavailable, LinkError, MessageRejected
from webhook.domain.messages import InboundMessage, Stored
from webhook.domain.storable_text import text_problem
from webhook.runtime.events import Subscription, conversation_topic
from webhook.runtime.websocket_frames import parse_json_object, receive_text_frame
from webhook.services.conversations import ConversationService
from webhook.settings import Settings

log = logging.getLogger(__name__)
HELLO_TIMEOUT_S = 10.0

router = APIRouter(tags=["web chat"])


class WebChatSocket:
    """One widget connection: reads frames, forwards the conversation's events."""

    def __init__(
        self,
        ws: WebSocket,
        service: ConversationService,
        hello: HelloFrame,
        features: dict[str, bool],
        guard: ChatGuard | None = None,
    ):
        self.ws = ws
        self.guard = guard
        self.service = service
        self.session = identity.session_key(hello.session)  # the token's hash: all the store knows
        self.lang = hello.lang
        self.last_sent = hello.after
        self.features = features
        self.conversation_id: str | None = None
        self.subscription: Subscription | None = None
        self.send_lock = asyncio.Lock()
        self.inbox: asyncio.Queue[MessageFrame] = asyncio.Queue()

    async def send(self, frame: ServerFrame) -> None:
        async with self.send_lock:
            await self.ws.send_json(frame.model_dump())

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
        await self.send(ConversationMessageFrame(message=message))

    async def run(self) -> None:
        """Say ``ready`` with the conversation so far, then read, work and forward until the socket closes."""
        conversation_id, messages = await self.service.transcript(Channel.WEB, self.session, self.last_sent)
        self.conversation_id = conversation_id
        if conversation_id is not None:
            self.subscription = self.service.bus.subscribe(conversation_topic(conversation_id))
        await self.send(
            ReadyFrame(
                conversation_id=conversation_id, messages=[m.as_json() for m in messages], features=self.features
            )
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
            try:
                frame = parse_frame(await receive_text_frame(self.ws))
                kind = frame.get("type")
                if kind == "ping":
                    await self.send(PongFrame())
                elif kind == "message":
                    await self.take(frame)
                else:
                    await self.error("bad_frame", f"unknown frame type {kind!r}")
            except (ValueError, ValidationError) as exc:
                await self.error("bad_frame", problem(exc))

    async def take(self, frame: dict[str, Any]) -> None:
        """Queue a message; one that cannot be taken (invalid text) is refused by its id, so it is not resent."""
        try:
            self.inbox.put_nowait(MessageFrame.model_validate(frame))
        except ValidationError as exc:
            client_message_id = message_id_of(frame)
            await self.error("invalid_message" if client_message_id else "bad_frame", problem(exc), client_message_id)

    async def work(self) -> None:
        """Messages one at a time, in the order they came."""
        while True:
            frame = await self.inbox.get()
            opening = self.conversation_id is None
            guard = self.guard
            refusal = await guard.refusal(self.session, frame.client_message_id, opening=opening) if guard else None
            if refusal is not None:
                await self.send(refusal)  # not stored: the widget sends it again after retry_after
                continue
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
                    AckFrame(
                        client_message_id=frame.client_message_id,
                        message_id=stored.message_id,
                        duplicate=stored.duplicate,
                    )
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
                await self.send(TypingFrame(on=bool(event.get("on"))))

    async def error(self, code: str, detail: str, client_message_id: str | None = None) -> None:
        await self.send(ErrorFrame(error=code, detail=detail, client_message_id=client_message_id))


def parse_frame(raw: str) -> dict[str, Any]:
    """A frame's JSON object; ValueError for anything else."""
    return parse_json_object(raw)


def message_id_of(frame: dict[str, Any]) -> str | None:
    """The frame's ``client_message_id`` if it is one that can be named back (1-100 storable characters)."""
    value = frame.get("client_message_id")
    if isinstance(value, str) and 1 <= len(value) <= 100 and text_problem(value) is None:
        return value
    return None


def problem(exc: Exception) -> str:
    """What was wrong with a frame, in one line."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc) or "not valid JSON"


def origin_allowed(ws: WebSocket, config: Settings) -> bool:
    """Whether the page behind the handshake may open the socket.

    Our own pages (the demo shop) always may, as may a client that names no page (not a
    browser); another site only when WIDGET_ALLOWED_ORIGINS lists it (``*``: any).
    """
    origin = ws.headers.get("origin")
    if origin is None or origins.is_own(origin, config.public_url, ws.url.scheme, ws.headers.get("host")):
        return True
    return origins.AllowedOrigins.parse(config.widget_allowed_origins).allows(origin)


@router.websocket("/ws/chat")
async def chat_socket(
    ws: WebSocket,
    service: Annotated[ConversationService, Depends(conversation_service)],
    config: Annotated[Settings, Depends(settings)],
    bot_username: Annotated[str | None, Depends(telegram_username)],
    guard: ChatGuardDep,
) -> None:
    """The widget's live connection (protocol: docs/web-widget.md)."""
    if not origin_allowed(ws, config):
        await ws.close(code=4403, reason="origin not allowed")
        return
    await ws.accept()
    hello = await _read_hello(ws)
    if hello is None:
        return
    try:
        secret = config.widget_identity_secret
        session = identity.session_key(hello.session)
        if hello.user is not None and not await _identify(ws, service, secret, session, hello.user):
            return
        if hello.link:
            try:
                await service.redeem_link(hello.link, Channel.WEB, session, hello.lang)
            except LinkError as exc:
                await ws.send_json(ErrorFrame(error="invalid_link", detail=str(exc)).model_dump())
        await WebChatSocket(ws, service, hello, {"telegram": bool(bot_username)}, guard).run()
    except WebSocketDisconnect:
        return


async def _read_hello(ws: WebSocket) -> HelloFrame | None:
    """The first frame must be ``hello``; without one in time the socket is closed (None)."""
    try:
        raw = await asyncio.wait_for(receive_text_frame(ws), HELLO_TIMEOUT_S)
        return HelloFrame.model_validate(parse_frame(raw))
    except (TimeoutError, ValueError, ValidationError) as exc:
        await ws.send_json(ErrorFrame(error="bad_frame", detail=f"expected hello: {problem(exc)}").model_dump())
        await ws.close(code=4400)
        return None
    except WebSocketDisconnect:
        return None


async def _identify(ws: WebSocket, service: ConversationService, secret: str, session: str, user: SignedUser) -> bool:
    """A signed-in site user: join this session to their customer; False (socket closed) for a bad signature."""
    if not identity.verify(secret, user.id, user.signature):
        detail = "the user signature is not valid" if secret else "identity verification is not set up"
        await ws.send_json(ErrorFrame(error="invalid_identity", detail=detail).model_dump())
        await ws.close(code=4403)
        return False
    await service.identify(Channel.WEB, session, identity.user_key(user.id), user.name)
    return True
