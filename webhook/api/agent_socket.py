"""The agent console's live feed, ``/ws/agent``: the queue whenever it changes, and the followed conversation.

Frames sent: ``queue`` (the whole queue, with the ids of new arrivals), ``message``
(in the followed conversation), ``following``, ``pong`` and ``error``. Frames read:
``follow`` (a conversation id) and ``ping``; any other frame (binary, not JSON, not
one of these) is answered with a ``bad_frame`` error, and a frame over the agent's
``RATE_LIMIT_STAFF_PER_USER`` with a ``rate_limited`` error and ``retry_after``. Signing in is as for the API (header,
``token`` query parameter, or the console's cookie), agents and admins only;
others are closed with 4401. A handshake from a page on another origin is closed with
4403 before anything else: the cookie would otherwise let any site open the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from webhook.api.agent_schemas import QueueOut
from webhook.api.deps import COOKIE_NAME, AgentsDep, DatabaseDep, SettingsDep, token_user
from webhook.api.hardening import foreign_origin
from webhook.api.rate_limits import AbuseLimitsDep
from webhook.domain.abuse import RateLimited
from webhook.domain.enums import Role
from webhook.domain.storable_text import text_problem
from webhook.runtime.abuse_limits import AbuseLimits
from webhook.runtime.events import AGENTS_TOPIC, Subscription, conversation_topic
from webhook.runtime.websocket_frames import parse_json_object, receive_text_frame
from webhook.services.agents import AgentService
from webhook.store.database import Database
from webhook.store.schema import User

PRESENCE_INTERVAL_S = 20.0
SNAPSHOT_DELAY_S = 0.1  # several queue changes at once: one snapshot
UNDERSTOOD = "expected {type: follow, conversation_id: <id>} or {type: ping}"

router = APIRouter()


async def socket_user(ws: WebSocket, db: Database) -> User | None:
    """The agent or admin the socket signs in (header, then ``token`` query parameter, then cookie), or None."""
    scheme, _, bearer = ws.headers.get("authorization", "").partition(" ")
    token = (
        (bearer if scheme.lower() == "bearer" else "") or ws.query_params.get("token") or ws.cookies.get(COOKIE_NAME)
    )
    if not token:
        return None
    user = await token_user(db, token)
    if user is None or user.role not in (Role.AGENT, Role.ADMIN):
        return None
    return user


class AgentFeed:
    """One agent's open socket: what it follows, and the tasks that feed and read it."""

    def __init__(self, ws: WebSocket, service: AgentService, user: User, limits: AbuseLimits | None = None) -> None:
        self.ws = ws
        self.limits = limits
        self.service = service
        self.user = user
        self.bus = service.conversations.bus
        self.queue_events = self.bus.subscribe(AGENTS_TOPIC)
        self.followed: Subscription | None = None
        self.followed_id: str | None = None
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_json(frame)

    async def push_queue(self, new: list[str] | None = None) -> None:
        queue = QueueOut.model_validate(await self.service.queue(self.user)).model_dump(mode="json")
        frame: dict[str, Any] = {"type": "queue", "queue": queue}
        if new:
            frame["new"] = new
        await self.send(frame)

    async def watch_queue(self) -> None:
        while True:
            event = await self.queue_events.get()
            new = list(event.get("new") or [])
            await asyncio.sleep(SNAPSHOT_DELAY_S)
            while not self.queue_events.queue.empty():
                new += list((self.queue_events.queue.get_nowait()).get("new") or [])
            await self.push_queue(new)

    async def watch_conversation(self) -> None:
        while True:
            if self.followed is None:
                await asyncio.sleep(0.1)
                continue
            subscription, conversation_id = self.followed, self.followed_id
            event = await subscription.get()
            if subscription is self.followed and event.get("type") == "message":
                await self.send({"type": "message", "conversation_id": conversation_id, "message": event["message"]})

    async def heartbeat(self) -> None:
        while True:
            await self.service.set_presence(self.user)
            await asyncio.sleep(PRESENCE_INTERVAL_S)

    async def follow(self, conversation_id: str) -> None:
        if self.followed is not None:
            self.followed.close()
            self.followed.put({"type": "switched"})  # wakes the watcher waiting on the old one
        self.followed_id = conversation_id
        self.followed = self.bus.subscribe(conversation_topic(conversation_id))
        await self.send({"type": "following", "conversation_id": conversation_id})

    async def read(self) -> None:
        """Answer every frame: ``follow`` with ``following``, ``ping`` with ``pong``, anything else with an error."""
        while True:
            try:
                frame = parse_json_object(await receive_text_frame(self.ws))
            except ValueError as exc:
                await self.send({"type": "error", "error": "bad_frame", "detail": str(exc) or "not JSON"})
                continue
            if not await self.within_limits():
                continue
            followed = frame.get("conversation_id")  # sent back as it came: it must be storable text
            if frame.get("type") == "follow" and isinstance(followed, str) and is_conversation_id(followed):
                await self.follow(followed)
            elif frame.get("type") == "ping":
                await self.send({"type": "pong"})
            else:
                await self.send({"type": "error", "error": "bad_frame", "detail": UNDERSTOOD})

    async def within_limits(self) -> bool:
        """Count a frame against the agent's staff limit; over it, say so (``rate_limited``) and skip the frame."""
        if self.limits is None:
            return True
        try:
            await self.limits.staff_call(f"user:{self.user.id}")
        except RateLimited as exc:
            await self.send(
                {"type": "error", "error": "rate_limited", "detail": exc.detail, "retry_after": exc.retry_after_s}
            )
            return False
        return True

    async def run(self) -> None:
        """Send the queue, then feed and read until the socket closes; unsubscribe on the way out."""
        await self.push_queue()
        work = (self.watch_queue, self.watch_conversation, self.heartbeat, self.read)
        tasks = [asyncio.create_task(t()) for t in work]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task
            self.queue_events.close()
            if self.followed is not None:
                self.followed.close()


def is_conversation_id(value: str) -> bool:
    """Whether ``value`` could name a conversation (and can be sent back in a frame)."""
    return 0 < len(value) <= 64 and text_problem(value) is None


@router.websocket("/ws/agent")
async def agent_socket(
    ws: WebSocket, db: DatabaseDep, agents: AgentsDep, settings: SettingsDep, limits: AbuseLimitsDep
) -> None:
    """The console's live feed: the queue whenever it changes, and the followed conversation's messages."""
    if foreign_origin(ws, settings.public_url) is not None:
        await ws.close(code=4403, reason="origin not allowed")
        return
    user = await socket_user(ws, db)
    if user is None:
        await ws.close(code=4401, reason="sign in as an agent")
        return
    await ws.accept()
    await AgentFeed(ws, agents, user, limits).run()
