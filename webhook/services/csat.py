"""A conversation's end: resolving it, and the satisfaction survey that follows.

When the bot's answer helped or an agent is done, the conversation is resolved
and, once per conversation, the customer is asked for a rating from 1 to 5; after
a rating they may add a comment (or skip it). The customer's answer arrives as an
ordinary message, so :meth:`CsatSurvey.catch` looks at each message before the
turn does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.delivery import awaits_delivery
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.messages import BotReply, InboundMessage, OnStored, Outcome, Stored
from webhook.domain.phrases import phrase
from webhook.domain.policy import ConversationPolicy
from webhook.domain.turns import CustomerRecord, ServiceRecord
from webhook.services.posting import Poster
from webhook.store import agents as agents_repo
from webhook.store import audit, feedback
from webhook.store import conversations as repo
from webhook.store.database import Database
from webhook.store.schema import Conversation, CsatResponse, Customer, User

RATING_PREFIX = "csat:"  # a rating button's payload: csat:1 ... csat:5, or csat:skip


class CsatSurvey:
    """Resolves conversations, asks how it went, and catches the rating and comment."""

    def __init__(self, db: Database, poster: Poster, policy: ConversationPolicy) -> None:
        self.db = db
        self.poster = poster
        self.policy = policy

    async def resolve(self, conversation_id: str, resolver: str, agent: User | None = None) -> list[BotReply]:
        """Close the conversation (the bot's answer helped, or an agent is done) and ask for a rating."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.status == ConversationStatus.RESOLVED:
                return []
            conversation.status = ConversationStatus.RESOLVED
            conversation.resolved_at = datetime.now(UTC)
            conversation.resolved_by = resolver
            agents_repo.add_event(session, conversation_id, "resolved", agent.username if agent else "bot")
            if agent is not None:  # the bot's resolutions are counted on /metrics, not audited one by one
                target = f"conversation:{conversation_id}"
                await audit.record(session, "conversation.resolved", actor=agent, target=target)
            lang = conversation.language or self.policy.default_language
            channel = conversation.last_channel or Channel.WEB
            asked = None
            if self.policy.csat_enabled:
                asked = await feedback.ask_csat(
                    session, conversation, resolver, agent.id if agent else None, channel, lang
                )
            await session.commit()
        replies: list[BotReply] = []
        if resolver == "agent":
            replies.append(BotReply(phrase("resolved", lang)))
        if asked is not None:
            replies.append(self.question(lang))
        if replies:
            await self.poster.post(conversation_id, channel, replies, record=ServiceRecord(resolved=resolver))
        await self.poster.queue_changed(conversation_id=conversation_id)
        return replies

    def question(self, lang: str) -> BotReply:
        """The rating question, with one button per score."""
        text = self.policy.csat_questions.get(lang) or phrase("csat_question", lang)
        return BotReply(text, [{"title": str(n), "payload": f"{RATING_PREFIX}{n}"} for n in range(1, 6)])

    async def catch(
        self,
        session: AsyncSession,
        customer: Customer,
        inbound: InboundMessage,
        text: str,
        on_stored: OnStored | None,
    ) -> Outcome | None:
        """A rating (``csat:N``) or the optional comment after it, for the customer's open CSAT question.

        None when the message is no answer to the survey: the turn goes on as usual.
        """
        is_rating = bool(inbound.payload and inbound.payload.startswith(RATING_PREFIX))
        if not is_rating and (inbound.payload or inbound.attachment or text.startswith("/")):
            return None
        pending = await feedback.open_csat(session, customer.id)
        if pending is None or (not is_rating and not pending.awaiting_comment):
            return None
        conversation = await session.get(Conversation, pending.conversation_id)
        assert conversation is not None
        message = repo.add_message(
            session,
            conversation,
            Sender.CUSTOMER,
            inbound.channel,
            text,
            payload=CustomerRecord(csat=inbound.payload or "comment").to_json(),
            client_message_id=inbound.client_message_id,
            awaits_delivery=awaits_delivery(inbound.channel, Sender.CUSTOMER),
        )
        reply = self._answer(pending, inbound.payload if is_rating else None, text)
        await session.commit()
        conversation_id, message_id = conversation.id, message.id
        await self.poster.publish(conversation_id, [repo.StoredMessage.of(message)])
        if on_stored is not None:
            await on_stored(Stored(conversation_id, message_id, duplicate=False))
        await self.poster.post(conversation_id, inbound.channel, [reply], record=ServiceRecord(csat="reply"))
        return Outcome(conversation_id, message_id, pending.language, [reply])

    @staticmethod
    def _answer(pending: CsatResponse, rating: str | None, text: str) -> BotReply:
        """Keep a rating (then ask for a comment) or a comment (then thank), and say what comes next."""
        lang = pending.language
        if rating is None:
            pending.comment, pending.awaiting_comment = text[:4000], False
            return BotReply(phrase("csat_thanks", lang))
        choice = rating[len(RATING_PREFIX) :]
        if choice.isdigit() and 1 <= int(choice) <= 5 and pending.rating is None:
            pending.rating, pending.answered_at, pending.awaiting_comment = int(choice), datetime.now(UTC), True
            return BotReply(
                phrase("csat_comment", lang), [{"title": phrase("csat_skip", lang), "payload": "csat:skip"}]
            )
        pending.awaiting_comment = False  # "skip", or a second press
        return BotReply(phrase("csat_thanks", lang))
