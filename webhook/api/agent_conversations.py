"""The agents' conversation API and their live socket (contract: docs/agents.md).

Routes translate HTTP to :class:`AgentService` calls; nothing here touches SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, Field

from webhook.api.deps import COOKIE_NAME, require_role
from webhook.domain.errors import Conflict, NotAllowed
from webhook.runtime.events import AGENTS_TOPIC, Subscription, conversation_topic
from webhook.services.agents import AgentService
from webhook.store import users as user_store
from webhook.store.schema import User

agent_only = require_role("agent", "admin")
PRESENCE_INTERVAL_S = 20.0


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class PresenceIn(BaseModel):
    available: bool


def _service(request: Request) -> AgentService:
    return request.app.state.agents


async def _call(coro: Any) -> Any:
    """Domain errors as the API's errors: 404 unknown, 409 a state or ownership conflict."""
    try:
        return await coro
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).strip("'") or "not found") from exc
    except (Conflict, NotAllowed) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


def agent_conversations_router() -> APIRouter:
    router = APIRouter(prefix="/api/agent", tags=["agent"])

    @router.get("/queue")
    async def queue(request: Request, agent: User = Depends(agent_only)) -> dict[str, Any]:
        """Waiting conversations (oldest first, with their place), mine, and the other agents'."""
        return await _service(request).queue(agent)

    @router.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: str, request: Request, agent: User = Depends(agent_only)) -> Any:
        """The handoff packet: reason, summary, customer profile, the whole transcript, notes."""
        return await _call(_service(request).packet(conversation_id))

    @router.post("/conversations/{conversation_id}/claim")
    async def claim(conversation_id: str, request: Request, agent: User = Depends(agent_only)) -> Any:
        """Take a waiting conversation. Atomic: of two agents pressing at once, one gets 409."""
        return await _call(_service(request).claim(conversation_id, agent))

    @router.post("/conversations/{conversation_id}/messages", status_code=201)
    async def reply(conversation_id: str, body: TextIn, request: Request, agent: User = Depends(agent_only)) -> Any:
        """Reply to the customer, on the channel they used last, under the agent's display name."""
        return await _call(_service(request).reply(conversation_id, agent, body.text.strip()))

    @router.post("/conversations/{conversation_id}/notes", status_code=201)
    async def note(conversation_id: str, body: TextIn, request: Request, agent: User = Depends(agent_only)) -> Any:
        """An internal note: other agents see it, the customer never does."""
        return await _call(_service(request).note(conversation_id, agent, body.text.strip()))

    @router.post("/conversations/{conversation_id}/transfer")
    async def transfer(
        conversation_id: str, body: TransferIn, request: Request, agent: User = Depends(agent_only)
    ) -> Any:
        return await _call(_service(request).transfer(conversation_id, agent, body.username))

    @router.post("/conversations/{conversation_id}/resolve")
    async def resolve(conversation_id: str, request: Request, agent: User = Depends(agent_only)) -> Any:
        """Close it; the customer is asked for a CSAT rating."""
        return await _call(_service(request).resolve(conversation_id, agent))

    @router.post("/conversations/{conversation_id}/release")
    async def release(conversation_id: str, request: Request, agent: User = Depends(agent_only)) -> Any:
        """Give it back to the bot, which resumes with the context intact."""
        return await _call(_service(request).release(conversation_id, agent))

    @router.post("/presence")
    async def presence(body: PresenceIn, request: Request, agent: User = Depends(agent_only)) -> dict[str, bool]:
        """Available for new chats (and seen now). Nobody available: customers are told honestly."""
        return {"available": await _service(request).set_presence(agent, body.available)}

    return router


async def _socket_user(ws: WebSocket) -> User | None:
    scheme, _, bearer = ws.headers.get("authorization", "").partition(" ")
    token = (
        (bearer if scheme.lower() == "bearer" else "") or ws.query_params.get("token") or ws.cookies.get(COOKIE_NAME)
    )
    if not token:
        return None
    async with ws.app.state.db.session() as session:
        user = await user_store.user_for_token(session, token)
    if user is None or user.role not in ("agent", "admin"):
        return None
    return user


async def agent_socket(ws: WebSocket) -> None:
    """The console's live feed: the queue whenever it changes, and the followed conversation's messages."""
    user = await _socket_user(ws)
    if user is None:
        await ws.close(code=4401, reason="sign in as an agent")
        return
    await ws.accept()
    service: AgentService = ws.app.state.agents
    bus = service.conversations.bus
    queue_events = bus.subscribe(AGENTS_TOPIC)
    followed: Subscription | None = None
    followed_id: str | None = None
    lock = asyncio.Lock()

    async def send(frame: dict[str, Any]) -> None:
        async with lock:
            await ws.send_json(frame)

    async def push_queue(new: list[str] | None = None) -> None:
        frame: dict[str, Any] = {"type": "queue", "queue": await service.queue(user)}
        if new:
            frame["new"] = new
        await send(frame)

    async def watch_queue() -> None:
        while True:
            event = await queue_events.get()
            new = list(event.get("new") or [])
            await asyncio.sleep(0.1)  # several changes at once: one snapshot
            while not queue_events.queue.empty():
                new += list((queue_events.queue.get_nowait()).get("new") or [])
            await push_queue(new)

    async def watch_conversation() -> None:
        while True:
            if followed is None:
                await asyncio.sleep(0.1)
                continue
            subscription, conversation_id = followed, followed_id
            event = await subscription.get()
            if subscription is followed and event.get("type") == "message":
                await send({"type": "message", "conversation_id": conversation_id, "message": event["message"]})

    async def heartbeat() -> None:
        while True:
            await service.set_presence(user)
            await asyncio.sleep(PRESENCE_INTERVAL_S)

    async def read() -> None:
        nonlocal followed, followed_id
        while True:
            try:
                frame = json.loads(await ws.receive_text())
            except ValueError:
                await send({"type": "error", "error": "bad_frame", "detail": "not JSON"})
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "follow" and isinstance(frame.get("conversation_id"), str):
                if followed is not None:
                    followed.close()
                    followed.put({"type": "switched"})  # wakes the watcher waiting on the old one
                followed_id = frame["conversation_id"]
                followed = bus.subscribe(conversation_topic(followed_id))
                await send({"type": "following", "conversation_id": followed_id})
            elif frame.get("type") == "ping":
                await send({"type": "pong"})

    await push_queue()
    tasks = [asyncio.create_task(t()) for t in (watch_queue, watch_conversation, heartbeat, read)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        queue_events.close()
        if followed is not None:
            followed.close()
