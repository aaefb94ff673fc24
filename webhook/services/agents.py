"""What agents do with conversations: take, reply, note, transfer, resolve, give back.

Replies go through the conversation service, so they are stored, published and
delivered on the customer's last channel like every other message. This module
also assembles the handoff packet: what an agent reads first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from webhook.domain.enums import ConversationStatus, Sender
from webhook.domain.errors import Conflict, NotAllowed
from webhook.domain.messages import BotReply
from webhook.domain.phrases import phrase
from webhook.domain.turns import ServiceRecord, TurnRecord
from webhook.runtime.events import AGENTS_TOPIC
from webhook.services.agent_records import (
    AgentName,
    ConversationHeader,
    CustomerProfile,
    HandoffReason,
    LastMessage,
    Note,
    OfferedArticle,
    Packet,
    Queue,
    QueueCustomer,
    QueueItem,
    Summary,
)
from webhook.services.conversations import ConversationService
from webhook.store import agents as repo
from webhook.store import audit
from webhook.store import conversations as messages_repo
from webhook.store.conversations import StoredMessage
from webhook.store.schema import Conversation, User
from webhook.store.users import find_user

__all__ = ["AgentService", "Conflict", "NotAllowed"]


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
    async def queue(self, agent: User) -> Queue:
        waiting: list[QueueItem] = []
        mine: list[QueueItem] = []
        others: list[QueueItem] = []
        async with self.db.session() as session:
            for conversation in await repo.queue(session):
                is_waiting = conversation.status == ConversationStatus.WAITING_FOR_AGENT
                requests = await repo.handoffs(session, conversation.id)
                profile = await repo.profile(session, conversation)
                item = QueueItem(
                    conversation_id=conversation.id,
                    status=str(conversation.status),
                    reason=requests[-1].reason if requests else None,
                    queued_at=repo.aware(conversation.queued_at),
                    position=len(waiting) + 1 if is_waiting else None,
                    ticket=bool(conversation.ticket),
                    customer=QueueCustomer(
                        profile.customer.display_name,
                        conversation.language,
                        sorted({str(i.channel) for i in profile.channels}),
                    ),
                    last_message=LastMessage.of(await repo.last_customer_message(session, conversation.id)),
                    agent=AgentName.of(await repo.user_by_id(session, conversation.agent_id)),
                )
                if is_waiting:
                    waiting.append(item)
                elif conversation.agent_id == agent.id:
                    mine.append(item)
                else:
                    others.append(item)
            online = await repo.agents_online(session, self.online_window_s) > 0
        return Queue(waiting, mine, others, online)

    async def set_presence(self, agent: User, available: bool | None = None) -> bool:
        async with self.db.session() as session:
            presence = await repo.set_presence(session, agent, available)
            await session.commit()
            return presence.available

    # -- one conversation ----------------------------------------------------------------------
    async def packet(self, conversation_id: str) -> Packet:
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
        return Packet(
            conversation=ConversationHeader.of(conversation, owner),
            reason=requests[-1].reason if requests else None,
            reasons=[HandoffReason.of(r) for r in requests],
            summary=summarise(transcript),
            customer=CustomerProfile.of(profile),
            transcript=transcript,
            notes=[Note.of(n) for n in notes],
        )

    async def claim(self, conversation_id: str, agent: User) -> Packet:
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
            await audit.record(session, "conversation.claimed", actor=agent, target=f"conversation:{conversation_id}")
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

    async def reply(self, conversation_id: str, agent: User, text: str) -> StoredMessage:
        async with self.db.session() as session:
            conversation = await repo.owned(session, conversation_id, agent)
            if conversation.first_agent_reply_at is None:
                conversation.first_agent_reply_at = datetime.now(UTC)
            await session.commit()
        stored = await self.conversations.post(
            conversation_id, None, [BotReply(text)], sender=Sender.AGENT, author=agent.display_name
        )
        return stored[0]

    async def note(self, conversation_id: str, agent: User, text: str) -> Note:
        async with self.db.session() as session:
            if await session.get(Conversation, conversation_id) is None:
                raise LookupError(conversation_id)
            note = repo.add_note(session, conversation_id, agent, text)
            await session.commit()
            return Note.of(note)

    async def transfer(self, conversation_id: str, agent: User, username: str) -> Packet:
        async with self.db.session() as session:
            conversation = await repo.owned(session, conversation_id, agent)
            target = await find_user(session, username)
            if target is None or not target.is_active or target.role not in ("agent", "admin"):
                raise LookupError(f"no active agent {username!r}")
            conversation.agent_id = target.id
            repo.add_event(session, conversation_id, "transferred", agent.username, {"to": target.username})
            await audit.record(
                session,
                "conversation.transferred",
                actor=agent,
                target=f"conversation:{conversation_id}",
                detail={"to": target.username},
            )
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

    async def resolve(self, conversation_id: str, agent: User) -> Packet:
        async with self.db.session() as session:
            await repo.owned(session, conversation_id, agent)
        await self.conversations.resolve(conversation_id, resolver="agent", agent=agent)
        return await self.packet(conversation_id)

    async def release(self, conversation_id: str, agent: User) -> Packet:
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
            await audit.record(session, "conversation.released", actor=agent, target=f"conversation:{conversation_id}")
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


def summarise(transcript: list[messages_repo.StoredMessage]) -> Summary:
    """The customer's question, what the bot offered (with scores), and how the customer reacted."""
    question = None
    articles: list[OfferedArticle] = []
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
                articles.append(OfferedArticle(candidate.key, candidate.title, candidate.score, kb.decision, kb.query))
        verdict = record.report.feedback
        if verdict is not None:
            reactions.append(f"{'helpful' if verdict.helpful else 'not helpful'}: {verdict.article}")
        if pressed:
            reactions.append(f"pressed “{message.text}”")
    return Summary(question, articles, reactions)
