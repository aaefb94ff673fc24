"""What agents do with conversations: take, reply, note, transfer, resolve, give back.

Replies go through the conversation service, so they are stored, published and
delivered on the customer's last channel like every other message. This module
also assembles the handoff packet: what an agent reads first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webhook.domain.enums import ConversationStatus, Sender
from webhook.domain.errors import Conflict, NotAllowed
from webhook.domain.messages import BotReply
from webhook.domain.phrases import phrase
from webhook.domain.turns import ServiceRecord, TurnRecord
from webhook.runtime.events import AGENTS_TOPIC
from webhook.services.conversations import ConversationService
from webhook.store import agents as repo
from webhook.store import conversations as messages_repo
from webhook.store.schema import Conversation, User
from webhook.store.users import find_user

__all__ = ["AgentService", "Conflict", "NotAllowed"]


def _iso(moment: datetime | None) -> str | None:
    moment = repo.aware(moment)
    return moment.isoformat() if moment else None


def _agent(user: User | None) -> dict[str, str] | None:
    return None if user is None else {"username": user.username, "display_name": user.display_name}


@dataclass
class AgentService:
    conversations: ConversationService
    online_window_s: float = 90.0

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.conversations.db

    async def _changed(self, conversation_id: str) -> None:
        await self.conversations.bus.publish(
            AGENTS_TOPIC, {"type": "queue_changed", "conversation_id": conversation_id}
        )

    # -- the queue -------------------------------------------------------------------------
    async def queue(self, agent: User) -> dict[str, Any]:
        async with self.db.session() as session:
            items: dict[str, list[dict[str, Any]]] = {"waiting": [], "mine": [], "others": []}
            position = 0
            for conversation in await repo.queue(session):
                profile = await repo.profile(session, conversation)
                last = await repo.last_customer_message(session, conversation.id)
                requests = await repo.handoffs(session, conversation.id)
                owner = await repo.user_by_id(session, conversation.agent_id)
                waiting = conversation.status == ConversationStatus.WAITING_FOR_AGENT
                position += 1 if waiting else 0
                item = {
                    "conversation_id": conversation.id,
                    "status": str(conversation.status),
                    "reason": requests[-1].reason if requests else None,
                    "queued_at": _iso(conversation.queued_at),
                    "position": position if waiting else None,
                    "ticket": bool(conversation.ticket),
                    "customer": {
                        "name": profile.customer.display_name,
                        "language": conversation.language,
                        "channels": sorted({str(i.channel) for i in profile.channels}),
                    },
                    "last_message": None
                    if last is None
                    else {"text": last.text, "channel": str(last.channel), "created_at": _iso(last.created_at)},
                    "agent": _agent(owner),
                }
                if waiting:
                    items["waiting"].append(item)
                elif conversation.agent_id == agent.id:
                    items["mine"].append(item)
                else:
                    items["others"].append(item)
            online = await repo.agents_online(session, self.online_window_s) > 0
        return {**items, "online": online}

    async def set_presence(self, agent: User, available: bool | None = None) -> bool:
        async with self.db.session() as session:
            presence = await repo.set_presence(session, agent, available)
            await session.commit()
            return presence.available

    # -- one conversation ----------------------------------------------------------------------
    async def packet(self, conversation_id: str) -> dict[str, Any]:
        """Reason, summary, customer profile, the whole transcript across channels, and the notes."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id, populate_existing=True)
            if conversation is None:
                raise LookupError(conversation_id)
            transcript = await messages_repo.messages_after(session, conversation_id)
            requests = await repo.handoffs(session, conversation_id)
            profile = await repo.profile(session, conversation)
            owner = await repo.user_by_id(session, conversation.agent_id)
            notes = await repo.notes(session, conversation_id)
        return {
            "conversation": {
                "id": conversation.id,
                "status": str(conversation.status),
                "language": conversation.language,
                "last_channel": str(conversation.last_channel) if conversation.last_channel else None,
                "created_at": _iso(conversation.created_at),
                "agent": _agent(owner),
                "ticket": bool(conversation.ticket),
            },
            "reason": requests[-1].reason if requests else None,
            "reasons": [{"reason": r.reason, "detail": r.detail, "created_at": _iso(r.created_at)} for r in requests],
            "summary": summarise(transcript),
            "customer": {
                "id": profile.customer.id,
                "name": profile.customer.display_name,
                "language": profile.customer.language,
                "channels": [
                    {"channel": str(i.channel), "last_seen_at": _iso(i.last_seen_at)} for i in profile.channels
                ],
                "earlier": [
                    {"id": c.id, "created_at": _iso(c.created_at), "status": str(c.status), "csat": rating}
                    for c, rating in profile.earlier
                ],
            },
            "transcript": [
                {
                    "id": m.id,
                    "sender": m.sender,
                    "channel": m.channel,
                    "text": m.text,
                    "buttons": m.buttons,
                    "created_at": m.created_at.isoformat(),
                    "author": m.author,
                }
                for m in transcript
            ],
            "notes": [
                {"id": n.id, "author": n.author, "text": n.text, "created_at": _iso(n.created_at)} for n in notes
            ],
        }

    async def claim(self, conversation_id: str, agent: User) -> dict[str, Any]:
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise LookupError(conversation_id)
            if not await repo.claim(session, conversation_id, agent):
                await session.rollback()
                current = await session.get(Conversation, conversation_id, populate_existing=True)
                owner = await repo.user_by_id(session, current.agent_id if current else None)
                who = f" by {owner.display_name}" if owner else ""
                raise Conflict(f"this conversation is not waiting any more (taken{who})")
            await repo.set_presence(session, agent)
            await session.commit()
            lang = conversation.language
        await self.conversations.post(
            conversation_id,
            None,
            [BotReply(phrase("agent_joined", lang, name=agent.display_name))],
            sender=Sender.SYSTEM,
            author=agent.display_name,
        )
        await self._changed(conversation_id)
        return await self.packet(conversation_id)

    async def reply(self, conversation_id: str, agent: User, text: str) -> dict[str, Any]:
        async with self.db.session() as session:
            conversation = await repo.owned(session, conversation_id, agent)
            if conversation.first_agent_reply_at is None:
                conversation.first_agent_reply_at = datetime.now(UTC)
            await session.commit()
        stored = await self.conversations.post(
            conversation_id, None, [BotReply(text)], sender=Sender.AGENT, author=agent.display_name
        )
        return stored[0].as_json()

    async def note(self, conversation_id: str, agent: User, text: str) -> dict[str, Any]:
        async with self.db.session() as session:
            if await session.get(Conversation, conversation_id) is None:
                raise LookupError(conversation_id)
            note = repo.add_note(session, conversation_id, agent, text)
            await session.commit()
            return {"id": note.id, "author": note.author, "text": note.text, "created_at": _iso(note.created_at)}

    async def transfer(self, conversation_id: str, agent: User, username: str) -> dict[str, Any]:
        async with self.db.session() as session:
            conversation = await repo.owned(session, conversation_id, agent)
            target = await find_user(session, username)
            if target is None or not target.is_active or target.role not in ("agent", "admin"):
                raise LookupError(f"no active agent {username!r}")
            conversation.agent_id = target.id
            repo.add_event(session, conversation_id, "transferred", agent.username, {"to": target.username})
            lang, name = conversation.language, target.display_name
            await session.commit()
        await self.conversations.post(
            conversation_id,
            None,
            [BotReply(phrase("transferred", lang, name=name))],
            sender=Sender.SYSTEM,
            author=name,
        )
        await self._changed(conversation_id)
        return await self.packet(conversation_id)

    async def resolve(self, conversation_id: str, agent: User) -> dict[str, Any]:
        async with self.db.session() as session:
            await repo.owned(session, conversation_id, agent)
        await self.conversations.resolve(conversation_id, resolver="agent", agent=agent)
        return await self.packet(conversation_id)

    async def release(self, conversation_id: str, agent: User) -> dict[str, Any]:
        """Back to the bot, which resumes with the conversation's context (its tracker) intact."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id, populate_existing=True)
            if conversation is None:
                raise LookupError(conversation_id)
            if conversation.status == ConversationStatus.WITH_AGENT:
                await repo.owned(session, conversation_id, agent)
            elif conversation.status != ConversationStatus.WAITING_FOR_AGENT:
                raise NotAllowed("the conversation is not with the agents")
            conversation.status = ConversationStatus.BOT
            conversation.agent_id = None
            conversation.queued_at = None
            repo.add_event(session, conversation_id, "released", agent.username)
            lang = conversation.language
            await session.commit()
        await self.conversations.rasa.append_events(conversation_id, [{"event": "resume"}])
        await self.conversations.post(
            conversation_id,
            None,
            [BotReply(phrase("back_to_bot", lang))],
            record=ServiceRecord(released=agent.username),
        )
        await self._changed(conversation_id)
        return await self.packet(conversation_id)


def summarise(transcript: list[messages_repo.StoredMessage]) -> dict[str, Any]:
    """The customer's question, what the bot offered (with scores), and how the customer reacted."""
    question = None
    articles: list[dict[str, Any]] = []
    reactions: list[str] = []
    seen: set[str] = set()
    for message in transcript:
        record = TurnRecord.read(message.payload)
        pressed = message.sender == Sender.CUSTOMER and bool(record.customer.button)
        if message.sender == Sender.CUSTOMER and question is None and not pressed:
            question = message.text
        kb = record.report.kb if message.sender == Sender.BOT else None
        if kb is not None:
            for candidate in kb.candidates[:3]:
                key = f"{candidate.key}:{kb.query}"
                if key in seen:
                    continue
                seen.add(key)
                articles.append(
                    {
                        "key": candidate.key,
                        "title": candidate.title,
                        "score": candidate.score,
                        "decision": kb.decision,
                        "query": kb.query,
                    }
                )
        verdict = record.report.feedback
        if verdict is not None:
            reactions.append(f"{'helpful' if verdict.helpful else 'not helpful'}: {verdict.article}")
        if pressed:
            reactions.append(f"pressed “{message.text}”")
    return {"question": question, "articles": articles, "reactions": reactions}
