"""The agents' conversation API (contract: docs/agents.md); the live feed is in ``agent_socket.py``.

Routes translate HTTP to :class:`AgentService` calls and its records to response
models; nothing here touches SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, status

from webhook.api.agent_schemas import (
    MessageOut,
    NoteOut,
    PacketOut,
    PresenceIn,
    PresenceOut,
    QueueOut,
    TextIn,
    TransferIn,
)
from webhook.api.deps import AgentsDep, AgentUser
from webhook.domain.errors import Conflict, NotAllowed
from webhook.domain.storable_text import StorableText

T = TypeVar("T")

# A conversation's id in a path: a NUL in it would reach PostgreSQL, which cannot take one (a 500).
ConversationId = Annotated[StorableText, Path(min_length=1, max_length=64)]

router = APIRouter(prefix="/api/agent", tags=["agent"])


async def _call(work: Awaitable[T]) -> T:
    """Domain errors as the API's errors: 404 unknown, 409 a state or ownership conflict."""
    try:
        return await work
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).strip("'") or "not found") from exc
    except (Conflict, NotAllowed) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("/queue", response_model=QueueOut)
async def queue(agents: AgentsDep, agent: AgentUser) -> QueueOut:
    """Waiting conversations (oldest first, with their place), mine, and the other agents'."""
    return QueueOut.model_validate(await agents.queue(agent))


@router.get("/conversations/{conversation_id}", response_model=PacketOut)
async def conversation(conversation_id: ConversationId, agents: AgentsDep, agent: AgentUser) -> PacketOut:
    """The handoff packet: reason, summary, customer profile, the whole transcript, notes."""
    return PacketOut.model_validate(await _call(agents.packet(conversation_id)))


@router.post("/conversations/{conversation_id}/claim", response_model=PacketOut)
async def claim(conversation_id: ConversationId, agents: AgentsDep, agent: AgentUser) -> PacketOut:
    """Take a waiting conversation. Atomic: of two agents pressing at once, one gets 409."""
    return PacketOut.model_validate(await _call(agents.claim(conversation_id, agent)))


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut, status_code=201)
async def reply(conversation_id: ConversationId, body: TextIn, agents: AgentsDep, agent: AgentUser) -> MessageOut:
    """Reply to the customer, on the channel they used last, under the agent's display name."""
    return MessageOut.model_validate(await _call(agents.reply(conversation_id, agent, body.text.strip())))


@router.post("/conversations/{conversation_id}/notes", response_model=NoteOut, status_code=201)
async def note(conversation_id: ConversationId, body: TextIn, agents: AgentsDep, agent: AgentUser) -> NoteOut:
    """An internal note: other agents see it, the customer never does."""
    return NoteOut.model_validate(await _call(agents.note(conversation_id, agent, body.text.strip())))


@router.post("/conversations/{conversation_id}/transfer", response_model=PacketOut)
async def transfer(conversation_id: ConversationId, body: TransferIn, agents: AgentsDep, agent: AgentUser) -> PacketOut:
    """Hand the conversation to another agent (or admin), who is told in the transcript."""
    return PacketOut.model_validate(await _call(agents.transfer(conversation_id, agent, body.username)))


@router.post("/conversations/{conversation_id}/resolve", response_model=PacketOut)
async def resolve(conversation_id: ConversationId, agents: AgentsDep, agent: AgentUser) -> PacketOut:
    """Close it; the customer is asked for a CSAT rating."""
    return PacketOut.model_validate(await _call(agents.resolve(conversation_id, agent)))


@router.post("/conversations/{conversation_id}/release", response_model=PacketOut)
async def release(conversation_id: ConversationId, agents: AgentsDep, agent: AgentUser) -> PacketOut:
    """Give it back to the bot, which resumes with the context intact."""
    return PacketOut.model_validate(await _call(agents.release(conversation_id, agent)))


@router.post("/presence", response_model=PresenceOut)
async def presence(body: PresenceIn, agents: AgentsDep, agent: AgentUser) -> PresenceOut:
    """Available for new chats (and seen now). Nobody available: customers are told honestly."""
    return PresenceOut(available=await agents.set_presence(agent, body.available))
