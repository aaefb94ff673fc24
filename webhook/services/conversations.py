"""The one place a customer message goes through, whichever channel it came from.

A channel hands over an :class:`InboundMessage`; the service stores it (before
anything else happens), finds the customer's conversation, asks Rasa for the
bot's turn with the conversation id as Rasa's sender id, applies what the
custom actions reported (:mod:`webhook.domain.turns`) and stores the replies.
Every stored message is published on the event bus (:mod:`webhook.services.posting`),
so widgets show it live and push channels (Telegram) deliver it from their
outbox. Channels only translate to and from their wire format.

Each capability beside the turn has its own module: the survey and resolving
(:mod:`~webhook.services.csat`), the handoff (:mod:`~webhook.services.handoff`),
one customer across channels (:mod:`~webhook.services.linking`). What else
happens after a bot turn (the deflection log, question learning) is done by the
listeners registered with :meth:`ConversationService.listen`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.text import detect_language
from webhook.domain.business_hours import BusinessHours
from webhook.domain.delivery import awaits_delivery
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.errors import BotUnavailable, MessageRejected, RasaUnavailable
from webhook.domain.messages import BotReply, InboundMessage, LocalAnswer, OnStored, Outcome, Stored
from webhook.domain.phrases import attachment_name, phrase
from webhook.domain.policy import ConversationPolicy
from webhook.domain.redaction import Redactor
from webhook.domain.storable_text import storable, text_problem
from webhook.domain.turns import ActionReport, BotTurn, CustomerRecord, Recorded, ServiceRecord, TurnRecord, reports
from webhook.runtime.events import EventBus, LocalBus, conversation_topic
from webhook.runtime.rasa_client import RasaClient
from webhook.services.csat import CsatSurvey
from webhook.services.handoff import Desk, Handoff
from webhook.services.linking import ArticleTitle, IdentityLocks, Linking
from webhook.services.posting import Poster
from webhook.store import conversations as repo
from webhook.store.database import Database
from webhook.store.identities import IssuedCode
from webhook.store.schema import Conversation, User

log = logging.getLogger(__name__)


class TurnListener(Protocol):
    """Something done after every bot turn, in the transaction that stores the turn's effects.

    The listeners live in ``webhook/listeners/`` and ``webhook/app.py`` registers them. A
    listener writes through ``session`` and never commits: the service commits once for all.
    """

    async def after_turn(self, session: AsyncSession, turn: BotTurn) -> None: ...


@dataclass(frozen=True)
class _Received:
    """A customer message just stored, and what its turn needs to know."""

    conversation_id: str
    message_id: int
    status: ConversationStatus
    language: str
    written: bool  # typed by the customer, not a button's label or a command


class ConversationService:
    """Runs the customer's turns: store first, then the bot (or a person), then what the turn means."""

    def __init__(
        self,
        db: Database,
        rasa: RasaClient,
        policy: ConversationPolicy | None = None,
        *,
        bus: EventBus | None = None,
        desk: Desk | None = None,
        article_title: ArticleTitle | None = None,
        listeners: Iterable[TurnListener] = (),
        rasa_redactor: Redactor | None = None,
    ) -> None:
        self.db = db
        self.rasa = rasa
        # REDACT_RASA: Rasa (and so its tracker store) gets the text with personal data masked; we keep it whole.
        self.rasa_redactor = rasa_redactor
        self.policy = policy or ConversationPolicy()
        self.bus: EventBus = bus or LocalBus()
        self.poster = Poster(db, self.bus)
        self.csat = CsatSurvey(db, self.poster, self.policy)
        self.handoff = Handoff(db, rasa, self.poster, desk or Desk(BusinessHours()), self.policy)
        # One turn at a time per customer identity in this worker, so replies keep their order.
        self._locks: IdentityLocks = defaultdict(asyncio.Lock)
        self.linking = Linking(db, self.poster, self._locks, self.policy, article_title)
        self.transcripts = Transcripts(db)
        self.listeners: list[TurnListener] = list(listeners)

    def listen(self, listener: TurnListener) -> None:
        """Run ``listener`` after every bot turn (``webhook/listeners/``)."""
        self.listeners.append(listener)

    def validate(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise MessageRejected("the message is empty")
        if len(text) > self.policy.max_chars:
            raise MessageRejected(f"the message is longer than {self.policy.max_chars} characters")
        problem = text_problem(text)  # a NUL or a lone surrogate: no database can store it
        if problem is not None:
            raise MessageRejected(f"the message {problem}")
        return text

    async def handle(
        self, inbound: InboundMessage, on_stored: OnStored | None = None, answer: LocalAnswer | None = None
    ) -> Outcome:
        """Store the message, let ``on_stored`` acknowledge it, then take the bot's turn.

        With ``answer`` the channel replies itself (a command) and Rasa is not asked.
        """
        # A file's caption is kept however it came (the file is for an agent); a message must be storable.
        text = storable(inbound.text.strip()) if inbound.attachment else self.validate(inbound.text)
        async with self._locks[(inbound.channel.value, inbound.external_id)]:
            received = await self._store(inbound, text, on_stored)
            if isinstance(received, Outcome):  # a survey answer, or a resend
                return received
            return await self._respond(inbound, text, received, answer)

    async def _store(self, inbound: InboundMessage, text: str, on_stored: OnStored | None) -> Outcome | _Received:
        """Store the customer's message first: whatever fails later, it is kept."""
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, inbound.channel, inbound.external_id)
            if inbound.display_name and not customer.display_name:
                customer.display_name = storable(inbound.display_name[:200])
            answered = await self.csat.catch(session, customer, inbound, text, on_stored)
            if answered is not None:
                return answered
            conversation = await repo.open_conversation(session, customer, inbound.channel)
            if inbound.client_message_id:
                earlier = await repo.find_by_client_id(session, conversation.id, inbound.client_message_id)
                if earlier is not None:
                    return await self._resend(session, conversation, earlier.id, inbound, on_stored)
            hint = conversation.language or inbound.language or customer.language or self.policy.default_language
            # A button's label or a command says nothing about the language the customer writes in.
            written = bool(text) and inbound.payload is None and not text.startswith("/")
            lang = (detect_language(text, default=hint) if written else hint) or self.policy.default_language
            conversation.language = customer.language = lang
            record = CustomerRecord(button=inbound.payload, attachment=inbound.attachment, extra=inbound.extra or {})
            message = repo.add_message(
                session,
                conversation,
                Sender.CUSTOMER,
                inbound.channel,
                text or f"[{inbound.attachment.get('kind', 'file') if inbound.attachment else 'file'}]",
                payload=record.to_json() or None,
                client_message_id=inbound.client_message_id,
                external_id=inbound.external_message_id,
                awaits_delivery=awaits_delivery(inbound.channel, Sender.CUSTOMER),
            )
            await session.commit()
            received = _Received(conversation.id, message.id, conversation.status, lang, written)
            await self.poster.publish(received.conversation_id, [repo.StoredMessage.of(message)])
        if on_stored is not None:
            await on_stored(Stored(received.conversation_id, received.message_id, duplicate=False))
        return received

    async def _respond(
        self, inbound: InboundMessage, text: str, received: _Received, answer: LocalAnswer | None
    ) -> Outcome:
        conversation_id, message_id, lang = received.conversation_id, received.message_id, received.language
        # While the conversation waits for or is with an agent, the bot stays silent.
        if received.status in (ConversationStatus.WAITING_FOR_AGENT, ConversationStatus.WITH_AGENT):
            await self.poster.queue_changed(conversation_id=conversation_id)
            return Outcome(conversation_id, message_id, lang, [])
        # A file the bot cannot read: say so, and keep it for an agent.
        if inbound.attachment:
            kind = attachment_name(str(inbound.attachment.get("kind", "other")), lang)
            reply = BotReply(phrase("unsupported_attachment", lang, kind=kind))
            await self.post(conversation_id, inbound.channel, [reply], record=ServiceRecord(attachment_reply=True))
            return Outcome(conversation_id, message_id, lang, [reply])
        # A customer at the end of their tether goes to a person, not another bot answer.
        if received.written and not answer:
            frustrated = self.handoff.frustrated(text, await self._earlier_texts(conversation_id, message_id))
            if frustrated is not None:
                notice = BotReply(phrase("frustrated", lang))
                record = ServiceRecord(frustration=frustrated[1])
                await self.post(conversation_id, inbound.channel, [notice], record=record)
                replies = await self.handoff.hand_off(conversation_id, *frustrated, channel=inbound.channel)
                return Outcome(conversation_id, message_id, lang, [notice, *replies])
        if answer is not None:
            replies = await answer(lang)
            await self.post(conversation_id, inbound.channel, replies, record=ServiceRecord(command=text.split()[0]))
            return Outcome(conversation_id, message_id, lang, replies)
        return await self._bot_turn(conversation_id, message_id, inbound, text, lang)

    async def _resend(
        self,
        session: AsyncSession,
        conversation: Conversation,
        message_id: int,
        inbound: InboundMessage,
        on_stored: OnStored | None,
    ) -> Outcome:
        """The same client message again: never stored twice; answered if it never was."""
        conversation_id, status = conversation.id, conversation.status
        lang = conversation.language or self.policy.default_language
        replies, answered = await _replies_after(session, conversation_id, message_id)
        await session.rollback()
        if on_stored is not None:
            await on_stored(Stored(conversation_id, message_id, duplicate=True))
        # A command's local answer is not replayed either: it was cheap and may have had effects.
        if answered or status != ConversationStatus.BOT or inbound.attachment:
            return Outcome(conversation_id, message_id, lang, replies, duplicate=True)
        # Stored, but the process stopped before the bot answered: answer now.
        outcome = await self._bot_turn(conversation_id, message_id, inbound, inbound.text.strip(), lang)
        return Outcome(conversation_id, message_id, lang, outcome.replies, duplicate=True)

    async def answer_unanswered(self, max_age_s: float = 600.0, before: datetime | None = None) -> int:
        """Answer messages stored but never answered (the process stopped in between); returns how many.

        Run at start-up, once Rasa is ready, with ``before`` the moment this process
        started: a message stored since then has a turn of its own answering it. Older
        messages are left alone: an answer that late would confuse more than help, and an
        agent sees them anyway.
        """
        since = datetime.now(UTC) - timedelta(seconds=max_age_s)
        async with self.db.session() as session:
            owed = await repo.unanswered_messages(session, since, before)
            languages = {m.conversation_id: (await session.get(Conversation, m.conversation_id)) for m in owed}
            default = self.policy.default_language
            langs = {cid: (c.language if c else None) or default for cid, c in languages.items()}
        answered = 0
        for message in owed:
            kept = CustomerRecord.read(message.payload)
            if kept.attachment:
                continue
            inbound = InboundMessage(Channel(message.channel), "", message.text, payload=kept.button)
            try:
                await self._bot_turn(
                    message.conversation_id, message.id, inbound, message.text, langs[message.conversation_id]
                )
                answered += 1
            except BotUnavailable:
                log.warning("recovery: Rasa is still unavailable; %d message(s) stay unanswered", len(owed) - answered)
                break
        return answered

    async def _bot_turn(
        self, conversation_id: str, message_id: int, inbound: InboundMessage, text: str, lang: str
    ) -> Outcome:
        # The bot's turn. Rasa's sender id is the conversation, never the channel user.
        await self.bus.publish(conversation_topic(conversation_id), {"type": "typing", "on": True})
        try:
            raw = await self.rasa.send(
                conversation_id,
                inbound.payload or (self.rasa_redactor(text) if self.rasa_redactor else text),
                {"lang": lang, "channel": inbound.channel.value, "message_id": message_id},
            )
        except RasaUnavailable as exc:
            log.error("conversation %s: %s", conversation_id, exc)
            raise BotUnavailable(conversation_id, message_id) from exc
        finally:
            await self.bus.publish(conversation_topic(conversation_id), {"type": "typing", "on": False})

        # Store the replies and apply what the actions reported. The first reply of the
        # turn carries the actions' records (search decision and scores, feedback, handoff).
        replies, report = _parse_rasa_output(raw)
        record = TurnRecord(report=report)
        if not replies:
            log.error("conversation %s: Rasa produced no reply to message %s", conversation_id, message_id)
            replies = [BotReply(phrase("no_reply", lang))]
            record = TurnRecord(report=report, service=ServiceRecord(error="no_reply"))
        await self.post(conversation_id, inbound.channel, replies, record=record)
        replies += await self._apply(conversation_id, report, inbound.channel, lang)
        return Outcome(conversation_id, message_id, lang, replies)

    async def _apply(self, conversation_id: str, report: ActionReport, channel: Channel, lang: str) -> list[BotReply]:
        """What a bot turn means beyond its words: the listeners' records, then resolution or handoff."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            history = tuple(reports(m.payload for m in await repo.messages_after(session, conversation_id)))
            turn = BotTurn(conversation_id, conversation.customer_id, channel, lang, report, history)
            for listener in self.listeners:
                await listener.after_turn(session, turn)
            await session.commit()
        if report.feedback is not None and report.feedback.helpful:
            return await self.csat.resolve(conversation_id, resolver="bot")
        return await self.handoff.after_turn(conversation_id, report, history, channel)

    async def _earlier_texts(self, conversation_id: str, before_id: int) -> list[str]:
        async with self.db.session() as session:
            messages = await repo.messages_after(session, conversation_id)
        return [m.text for m in messages if m.sender == Sender.CUSTOMER and m.id < before_id][-3:]

    # -- the capabilities beside the turn, under the names the channels and agents use ------
    async def post(
        self,
        conversation_id: str,
        channel: Channel | None,
        replies: Iterable[BotReply],
        sender: Sender = Sender.BOT,
        record: Recorded | None = None,
        author: str | None = None,
    ) -> list[repo.StoredMessage]:
        """Store outgoing messages and publish them (:meth:`Poster.post`)."""
        return await self.poster.post(conversation_id, channel, replies, sender, record, author)

    async def hand_off(
        self,
        conversation_id: str,
        reason: str,
        detail: Mapping[str, Any] | None = None,
        channel: Channel | None = None,
    ) -> list[BotReply]:
        """Queue the conversation for a person (:meth:`Handoff.hand_off`)."""
        return await self.handoff.hand_off(conversation_id, reason, detail, channel)

    async def resolve(self, conversation_id: str, resolver: str, agent: User | None = None) -> list[BotReply]:
        """Close the conversation and ask for a rating (:meth:`CsatSurvey.resolve`)."""
        return await self.csat.resolve(conversation_id, resolver, agent)

    async def issue_link(self, channel: Channel, external_id: str, target: Channel) -> IssuedCode:
        return await self.linking.issue_link(channel, external_id, target)

    async def redeem_link(
        self,
        code: str,
        channel: Channel,
        external_id: str,
        language: str | None = None,
        display_name: str | None = None,
    ) -> str:
        return await self.linking.redeem_link(code, channel, external_id, language, display_name)

    async def identify(self, channel: Channel, external_id: str, user_key: str, display_name: str | None) -> str:
        return await self.linking.identify(channel, external_id, user_key, display_name)

    # -- reading, for the channels (:class:`Transcripts`) --------------------------------
    async def transcript(
        self, channel: Channel, external_id: str, after_id: int = 0
    ) -> tuple[str | None, list[repo.StoredMessage]]:
        return await self.transcripts.transcript(channel, external_id, after_id)

    async def current_conversation_id(self, channel: Channel, external_id: str) -> str | None:
        return await self.transcripts.current_conversation_id(channel, external_id)

    async def button(self, channel: Channel, external_id: str, message_id: int, index: int) -> dict[str, str] | None:
        return await self.transcripts.button(channel, external_id, message_id, index)

    async def language_of(self, channel: Channel, external_id: str) -> str | None:
        return await self.transcripts.language_of(channel, external_id)

    async def set_language(self, channel: Channel, external_id: str, lang: str) -> None:
        await self.transcripts.set_language(channel, external_id, lang)


class Transcripts:
    """What a channel reads about a customer: their conversation's messages, a button, their language."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def transcript(
        self, channel: Channel, external_id: str, after_id: int = 0
    ) -> tuple[str | None, list[repo.StoredMessage]]:
        """The open conversation of a channel identity, for restoring a chat window."""
        async with self.db.session() as session:
            customer = await repo.find_customer(session, channel, external_id)
            if customer is None:
                return None, []
            # the open conversation, else the one just resolved (its CSAT question may be waiting)
            conversation = await repo.current_conversation(session, customer.id) or await repo.latest_conversation(
                session, customer.id, within_h=24
            )
            if conversation is None:
                return None, []
            return conversation.id, await repo.messages_after(session, conversation.id, after_id)

    async def current_conversation_id(self, channel: Channel, external_id: str) -> str | None:
        async with self.db.session() as session:
            customer = await repo.find_customer(session, channel, external_id)
            if customer is None:
                return None
            conversation = await repo.current_conversation(session, customer.id)
            return None if conversation is None else conversation.id

    async def button(self, channel: Channel, external_id: str, message_id: int, index: int) -> dict[str, str] | None:
        """A button of a message in this customer's conversations (a channel maps a press back to it)."""
        async with self.db.session() as session:
            customer = await repo.find_customer(session, channel, external_id)
            message = await session.get(repo.Message, message_id)
            if customer is None or message is None:
                return None
            conversation = await session.get(Conversation, message.conversation_id)
            if conversation is None or conversation.customer_id != customer.id:
                return None
            buttons = message.buttons or []
            return dict(buttons[index]) if 0 <= index < len(buttons) else None

    async def language_of(self, channel: Channel, external_id: str) -> str | None:
        async with self.db.session() as session:
            customer = await repo.find_customer(session, channel, external_id)
            return None if customer is None else customer.language

    async def set_language(self, channel: Channel, external_id: str, lang: str) -> None:
        """The customer chose a language: it decides fa/ar and is the default when text gives no clue."""
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, channel, external_id)
            customer.language = lang
            conversation = await repo.current_conversation(session, customer.id)
            if conversation is not None:
                conversation.language = lang
            await session.commit()


async def _replies_after(session: AsyncSession, conversation_id: str, message_id: int) -> tuple[list[BotReply], bool]:
    """The bot messages that answered ``message_id``, and whether anything did."""
    replies = []
    answered = False
    for m in await repo.messages_after(session, conversation_id, message_id):
        if m.sender == Sender.CUSTOMER:
            break
        answered = True
        if m.sender == Sender.BOT:
            replies.append(BotReply(m.text, m.buttons))
    return replies, answered


def _parse_rasa_output(raw: list[dict[str, Any]]) -> tuple[list[BotReply], ActionReport]:
    """Split Rasa's REST output into visible replies and what the actions reported (their custom JSON)."""
    replies: list[BotReply] = []
    custom: dict[str, Any] = {}
    for item in raw:
        if isinstance(item.get("custom"), dict):
            custom.update(item["custom"])
        text = item.get("text")
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
        ]
        if text or buttons:
            replies.append(BotReply(str(text or ""), buttons))
    return replies, ActionReport.read(custom)
