"""The one place a customer message goes through, whichever channel it came from.

A channel hands over an :class:`InboundMessage`; the service stores it (before
anything else happens), finds the customer's conversation, asks Rasa for the
bot's turn with the conversation id as Rasa's sender id, applies what the
custom actions reported (a handoff request, the articles shown) and stores the
replies. Every stored message is published on the event bus, so widgets show
it live and push channels (Telegram) deliver it from their outbox. Channels
only translate to and from their wire format.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.text import LANGUAGES, detect_language
from webhook.domain import learning
from webhook.domain.business_hours import BusinessHours
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.errors import BotUnavailable, MessageRejected, RasaUnavailable
from webhook.domain.handoff import HandoffRules, frustration_trigger, rule_trigger
from webhook.domain.messages import BotReply, InboundMessage, LocalAnswer, OnStored, Outcome, Stored
from webhook.domain.phrases import attachment_name, phrase
from webhook.runtime.events import AGENTS_TOPIC, MESSAGES_TOPIC, EventBus, LocalBus, conversation_topic
from webhook.runtime.rasa_client import RasaClient
from webhook.services.handoff import Desk
from webhook.store import agents as agents_repo
from webhook.store import conversations as repo
from webhook.store import feedback, identities, suggestions
from webhook.store.database import Database
from webhook.store.identities import IssuedCode
from webhook.store.schema import Conversation, Customer, User

log = logging.getLogger(__name__)


class ConversationService:
    def __init__(
        self,
        db: Database,
        rasa: RasaClient,
        max_chars: int = 4000,
        default_language: str = "en",
        bus: EventBus | None = None,
        article_title: Callable[[str, str], str | None] | None = None,
        link_ttl_s: int = 600,
        rules: HandoffRules | None = None,
        desk: Desk | None = None,
        csat_enabled: bool = True,
        csat_questions: dict[str, str] | None = None,
        deflection_window_h: float = 24.0,
        learn_questions: bool = True,
    ) -> None:
        self.db = db
        self.rasa = rasa
        self.max_chars = max_chars
        self.default_language = default_language
        self.bus: EventBus = bus or LocalBus()
        self.article_title = article_title  # a help article's title in a language, for "you were asking about"
        self.link_ttl_s = link_ttl_s
        self.rules = rules or HandoffRules()
        self.desk = desk or Desk(BusinessHours())
        self.csat_enabled = csat_enabled
        self.csat_questions = {k: v for k, v in (csat_questions or {}).items() if v}
        self.deflection_window_h = deflection_window_h
        self.learn_questions = learn_questions  # suggest customers' phrasings to editors (webhook/domain/learning.py)
        # One turn at a time per customer identity in this worker, so replies keep their order.
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    def validate(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise MessageRejected("the message is empty")
        if len(text) > self.max_chars:
            raise MessageRejected(f"the message is longer than {self.max_chars} characters")
        if "\x00" in text:
            raise MessageRejected("the message contains a NUL character")
        return text

    async def handle(
        self, inbound: InboundMessage, on_stored: OnStored | None = None, answer: LocalAnswer | None = None
    ) -> Outcome:
        """Store the message, let ``on_stored`` acknowledge it, then take the bot's turn.

        With ``answer`` the channel replies itself (a command) and Rasa is not asked.
        """
        text = inbound.text.strip() if inbound.attachment else self.validate(inbound.text)
        async with self._locks[(inbound.channel.value, inbound.external_id)]:
            return await self._turn(inbound, text, on_stored, answer)

    async def _turn(
        self, inbound: InboundMessage, text: str, on_stored: OnStored | None, answer: LocalAnswer | None
    ) -> Outcome:
        # 1. Store the customer's message first: whatever fails later, it is kept.
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, inbound.channel, inbound.external_id)
            if inbound.display_name and not customer.display_name:
                customer.display_name = inbound.display_name[:200]
            answered = await self._csat_answer(session, customer, inbound, text, on_stored)
            if answered is not None:
                return answered
            conversation = await repo.open_conversation(session, customer, inbound.channel)
            if inbound.client_message_id:
                earlier = await repo.find_by_client_id(session, conversation.id, inbound.client_message_id)
                if earlier is not None:
                    return await self._resend(session, conversation, earlier.id, inbound, on_stored)
            hint = conversation.language or inbound.language or customer.language or self.default_language
            # A button's label or a command says nothing about the language the customer writes in.
            written = bool(text) and inbound.payload is None and not text.startswith("/")
            lang = detect_language(text, default=hint) if written else hint
            lang = lang or self.default_language
            conversation.language = customer.language = lang
            payload = dict(inbound.extra or {})
            if inbound.payload:
                payload["button"] = inbound.payload  # what Rasa was given: a replay gives it again
            if inbound.attachment:
                payload["attachment"] = inbound.attachment
            message = repo.add_message(
                session,
                conversation,
                Sender.CUSTOMER,
                inbound.channel,
                text or f"[{inbound.attachment.get('kind', 'file') if inbound.attachment else 'file'}]",
                payload=payload or None,
                client_message_id=inbound.client_message_id,
                external_id=inbound.external_message_id,
            )
            await session.commit()
            conversation_id, message_id, status = conversation.id, message.id, conversation.status
            await self._publish(conversation_id, [repo.StoredMessage.of(message)])
        if on_stored is not None:
            await on_stored(Stored(conversation_id, message_id, duplicate=False))

        # 2. While the conversation waits for or is with an agent, the bot stays silent.
        if status in (ConversationStatus.WAITING_FOR_AGENT, ConversationStatus.WITH_AGENT):
            await self.bus.publish(AGENTS_TOPIC, {"type": "queue_changed", "conversation_id": conversation_id})
            return Outcome(conversation_id, message_id, lang, [])
        # 3. A file the bot cannot read: say so, and keep it for an agent.
        if inbound.attachment:
            kind = attachment_name(str(inbound.attachment.get("kind", "other")), lang)
            reply = BotReply(phrase("unsupported_attachment", lang, kind=kind))
            await self.post(conversation_id, inbound.channel, [reply], effects={"attachment_reply": True})
            return Outcome(conversation_id, message_id, lang, [reply])
        # 4. A customer at the end of their tether goes to a person, not another bot answer.
        if written and not answer:
            previous_texts = await self._earlier_texts(conversation_id, message_id)
            frustrated = frustration_trigger(self.rules, text, previous_texts)
            if frustrated is not None:
                notice = BotReply(phrase("frustrated", lang))
                await self.post(conversation_id, inbound.channel, [notice], effects={"frustration": frustrated[1]})
                replies = await self.hand_off(conversation_id, *frustrated, channel=inbound.channel)
                return Outcome(conversation_id, message_id, lang, [notice, *replies])
        if answer is not None:
            replies = await answer(lang)
            await self.post(conversation_id, inbound.channel, replies, effects={"command": text.split()[0]})
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
        lang = conversation.language or self.default_language
        replies, answered = await self._replies_after(session, conversation_id, message_id)
        await session.rollback()
        if on_stored is not None:
            await on_stored(Stored(conversation_id, message_id, duplicate=True))
        # A command's local answer is not replayed either: it was cheap and may have had effects.
        if answered or status != ConversationStatus.BOT or inbound.attachment:
            return Outcome(conversation_id, message_id, lang, replies, duplicate=True)
        # Stored, but the process stopped before the bot answered: answer now.
        outcome = await self._bot_turn(conversation_id, message_id, inbound, inbound.text.strip(), lang)
        return Outcome(conversation_id, message_id, lang, outcome.replies, duplicate=True)

    async def answer_unanswered(self, max_age_s: float = 600.0) -> int:
        """Answer messages stored but never answered (the process stopped in between); returns how many.

        Run at start-up, once Rasa is ready. Older messages are left alone: an answer
        that late would confuse more than help, and an agent sees them anyway.
        """
        since = datetime.now(UTC) - timedelta(seconds=max_age_s)
        async with self.db.session() as session:
            owed = await repo.unanswered_messages(session, since)
            languages = {m.conversation_id: (await session.get(Conversation, m.conversation_id)) for m in owed}
            langs = {cid: (c.language if c else None) or self.default_language for cid, c in languages.items()}
        answered = 0
        for message in owed:
            if (message.payload or {}).get("attachment"):
                continue
            inbound = InboundMessage(
                Channel(message.channel), "", message.text, payload=(message.payload or {}).get("button")
            )
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
                inbound.payload or text,
                {"lang": lang, "channel": inbound.channel.value, "message_id": message_id},
            )
        except RasaUnavailable as exc:
            log.error("conversation %s: %s", conversation_id, exc)
            raise BotUnavailable(conversation_id, message_id) from exc
        finally:
            await self.bus.publish(conversation_topic(conversation_id), {"type": "typing", "on": False})

        # Store the replies and apply what the actions reported. The first reply of the
        # turn carries the actions' records (search decision and scores, feedback, handoff).
        replies, effects = _parse_rasa_output(raw)
        if not replies:
            log.error("conversation %s: Rasa produced no reply to message %s", conversation_id, message_id)
            replies = [BotReply(phrase("no_reply", lang))]
            effects["error"] = "no_reply"
        await self.post(conversation_id, inbound.channel, replies, effects=effects)
        replies += await self._apply(conversation_id, effects, inbound.channel, lang)
        return Outcome(conversation_id, message_id, lang, replies)

    async def _apply(
        self, conversation_id: str, effects: dict[str, Any], channel: Channel, lang: str
    ) -> list[BotReply]:
        """What a bot turn means beyond its words: deflections, resolution, handoff."""
        kb = effects.get("kb") or {}
        verdict = effects.get("feedback") or {}
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            # "About the same topic": the article answered, or one of those offered to choose from.
            if kb.get("answered"):
                topics = {str(kb["answered"])}
            elif kb.get("decision") == "clarify":
                topics = {str(c.get("key")) for c in kb.get("candidates", [])[:3]}
            else:
                topics = set()
            await feedback.revert_recontacts(
                session, conversation.customer_id, conversation_id, topics, self.deflection_window_h
            )
            if kb.get("answered"):
                await feedback.record_answer(session, conversation, str(kb["answered"]), channel, lang)
            if verdict.get("helpful") is True:
                await feedback.confirm(session, conversation_id)
            elif verdict.get("helpful") is False:
                await feedback.revert(session, conversation_id, "not_helpful")
            records = [m.payload for m in await repo.messages_after(session, conversation_id) if m.payload]
            if self.learn_questions:
                for found in learning.evidence(effects, records):
                    await suggestions.record(session, found, conversation_id)
            await session.commit()
        if verdict.get("helpful") is True:
            return await self.resolve(conversation_id, resolver="bot")
        if "handoff" in effects:
            handoff = effects["handoff"]
            return await self.hand_off(
                conversation_id, str(handoff.get("reason", "customer_request")), handoff, channel=channel
            )
        triggered = rule_trigger(self.rules, records)
        if triggered is not None:
            return await self.hand_off(conversation_id, *triggered, channel=channel)
        return []

    async def hand_off(
        self, conversation_id: str, reason: str, detail: dict[str, Any] | None = None, channel: Channel | None = None
    ) -> list[BotReply]:
        """Queue the conversation for a person and tell the customer where they stand."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.status != ConversationStatus.BOT:
                return []
            staffed = await self.desk.staffed(session)
            await agents_repo.enqueue(session, conversation, reason, detail, ticket=not staffed)
            await feedback.revert(session, conversation_id, "handoff")
            position = await agents_repo.queue_position(session, conversation)
            lang = conversation.language or self.default_language
            await session.commit()
        await self.rasa.append_events(conversation_id, [{"event": "pause"}])
        if staffed:
            notice = BotReply(phrase("queued", lang, position=position))
        else:
            notice = BotReply(phrase("offline", lang, hours=self.desk.hours.describe()))
        await self.post(
            conversation_id,
            channel,
            [notice],
            sender=Sender.SYSTEM,
            effects={"handoff_notice": reason, "ticket": not staffed},
        )
        await self.bus.publish(AGENTS_TOPIC, {"type": "queue_changed", "new": [conversation_id]})
        return [notice]

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
            lang = conversation.language or self.default_language
            channel = conversation.last_channel or Channel.WEB
            asked = None
            if self.csat_enabled:
                asked = await feedback.ask_csat(
                    session, conversation, resolver, agent.id if agent else None, channel, lang
                )
            await session.commit()
        replies: list[BotReply] = []
        if resolver == "agent":
            replies.append(BotReply(phrase("resolved", lang)))
        if asked is not None:
            question = self.csat_questions.get(lang) or phrase("csat_question", lang)
            replies.append(BotReply(question, [{"title": str(n), "payload": f"csat:{n}"} for n in range(1, 6)]))
        if replies:
            await self.post(conversation_id, channel, replies, effects={"resolved": resolver})
        await self.bus.publish(AGENTS_TOPIC, {"type": "queue_changed", "conversation_id": conversation_id})
        return replies

    async def _csat_answer(
        self,
        session: AsyncSession,
        customer: Customer,
        inbound: InboundMessage,
        text: str,
        on_stored: OnStored | None,
    ) -> Outcome | None:
        """A rating (``csat:N``) or the optional comment after it, for the customer's open CSAT question."""
        is_rating = bool(inbound.payload and inbound.payload.startswith("csat:"))
        if not is_rating and (inbound.payload or inbound.attachment or text.startswith("/")):
            return None
        pending = await feedback.open_csat(session, customer.id)
        if pending is None or (not is_rating and not pending.awaiting_comment):
            return None
        conversation = await session.get(Conversation, pending.conversation_id)
        assert conversation is not None
        lang = pending.language
        message = repo.add_message(
            session,
            conversation,
            Sender.CUSTOMER,
            inbound.channel,
            text,
            payload={"csat": inbound.payload or "comment"},
            client_message_id=inbound.client_message_id,
        )
        now = datetime.now(UTC)
        if is_rating:
            choice = (inbound.payload or "")[5:]
            if choice.isdigit() and 1 <= int(choice) <= 5 and pending.rating is None:
                pending.rating, pending.answered_at, pending.awaiting_comment = int(choice), now, True
                reply = BotReply(
                    phrase("csat_comment", lang), [{"title": phrase("csat_skip", lang), "payload": "csat:skip"}]
                )
            else:  # "skip", or a second press
                pending.awaiting_comment = False
                reply = BotReply(phrase("csat_thanks", lang))
        else:
            pending.comment, pending.awaiting_comment = text[:4000], False
            reply = BotReply(phrase("csat_thanks", lang))
        await session.commit()
        conversation_id, message_id = conversation.id, message.id
        await self._publish(conversation_id, [repo.StoredMessage.of(message)])
        if on_stored is not None:
            await on_stored(Stored(conversation_id, message_id, duplicate=False))
        await self.post(conversation_id, inbound.channel, [reply], effects={"csat": "reply"})
        return Outcome(conversation_id, message_id, lang, [reply])

    async def _earlier_texts(self, conversation_id: str, before_id: int) -> list[str]:
        async with self.db.session() as session:
            messages = await repo.messages_after(session, conversation_id)
        return [m.text for m in messages if m.sender == Sender.CUSTOMER and m.id < before_id][-3:]

    async def post(
        self,
        conversation_id: str,
        channel: Channel | None,
        replies: Iterable[BotReply],
        sender: Sender = Sender.BOT,
        effects: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> list[repo.StoredMessage]:
        """Store outgoing messages (on ``channel``, else the one the customer used last) and publish them.

        ``effects`` (the actions' records) go with the first message.
        """
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise LookupError(f"no conversation {conversation_id}")
            target = channel or conversation.last_channel or Channel.WEB
            added = []
            for i, reply in enumerate(replies):
                payload = (effects or None) if i == 0 else None
                added.append(
                    repo.add_message(
                        session, conversation, sender, target, reply.text, reply.buttons, payload, author=author
                    )
                )
            await session.commit()
            stored = [repo.StoredMessage.of(m) for m in added]
        await self._publish(conversation_id, stored)
        return stored

    async def _publish(self, conversation_id: str, messages: list[repo.StoredMessage]) -> None:
        for message in messages:
            event = {"type": "message", "message": message.as_json()}
            await self.bus.publish(conversation_topic(conversation_id), event)
            await self.bus.publish(MESSAGES_TOPIC, event)

    async def _replies_after(
        self, session: AsyncSession, conversation_id: str, message_id: int
    ) -> tuple[list[BotReply], bool]:
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

    # -- reading ---------------------------------------------------------------------
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

    # -- one customer across channels ------------------------------------------------
    async def issue_link(self, channel: Channel, external_id: str, target: Channel) -> IssuedCode:
        """A one-time code with which ``target`` joins this identity's customer and conversation."""
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, channel, external_id)
            conversation = await repo.current_conversation(session, customer.id)
            issued = await identities.issue_link_code(session, customer, conversation, target, self.link_ttl_s)
            await session.commit()
            return issued

    async def redeem_link(
        self,
        code: str,
        channel: Channel,
        external_id: str,
        language: str | None = None,
        display_name: str | None = None,
    ) -> str:
        """Join ``external_id`` to the customer who made ``code``; greet them with where they left off.

        Returns the conversation id; raises :class:`LinkError` for a bad code.
        """
        async with self._locks[(channel.value, external_id)], self.db.session() as session:
            link = await identities.redeem_link_code(session, code, channel, external_id)
            customer = await session.get(Customer, link.customer_id)
            assert customer is not None
            keep = await session.get(Conversation, link.conversation_id) if link.conversation_id else None
            if keep is not None and keep.status == ConversationStatus.RESOLVED:
                keep = None
            kept = await identities.attach_identity(session, customer, channel, external_id, keep)
            if kept is None:
                kept = await repo.open_conversation(session, customer, channel)
            kept.last_channel = channel
            if display_name and not customer.display_name:
                customer.display_name = display_name[:200]
            if not kept.language and language in LANGUAGES:
                kept.language = language
            topic = await self._topic(session, kept)
            lang = kept.language or self.default_language
            conversation_id = kept.id
            await session.commit()
        text = phrase("welcome_back_topic", lang, topic=topic) if topic else phrase("welcome_back", lang)
        await self.post(conversation_id, channel, [BotReply(text)], effects={"linked": channel.value})
        return conversation_id

    async def identify(self, channel: Channel, external_id: str, user_key: str, display_name: str | None) -> str:
        """A verified user id from the host site: every identity presenting it joins one customer."""
        async with self._locks[(channel.value, external_id)], self.db.session() as session:
            session_customer = await repo.find_or_create_customer(session, channel, external_id)
            user_customer = await repo.find_customer(session, channel, user_key)
            if user_customer is None:
                await identities.attach_identity(session, session_customer, channel, user_key, None)
                target = session_customer
            elif user_customer.id != session_customer.id:
                await identities.merge_customers(session, session_customer, user_customer, None)
                target = user_customer
            else:
                target = user_customer
            if display_name:
                target.display_name = display_name[:200]
            await session.commit()
            return target.id

    async def set_language(self, channel: Channel, external_id: str, lang: str) -> None:
        """The customer chose a language: it decides fa/ar and is the default when text gives no clue."""
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, channel, external_id)
            customer.language = lang
            conversation = await repo.current_conversation(session, customer.id)
            if conversation is not None:
                conversation.language = lang
            await session.commit()

    async def _topic(self, session: AsyncSession, conversation: Conversation) -> str | None:
        """What the customer was asking about: the last article answered, else their last question."""
        messages = await repo.messages_after(session, conversation.id)
        lang = conversation.language or self.default_language
        for message in reversed(messages):
            kb = (message.payload or {}).get("kb") if message.sender == Sender.BOT else None
            if isinstance(kb, dict) and kb.get("answered"):
                key = str(kb["answered"])
                title = self.article_title(key, lang) if self.article_title else None
                if title is None:
                    title = next((c["title"] for c in kb.get("candidates", []) if c.get("key") == key), None)
                if title:
                    return str(title)
        for message in reversed(messages):
            if message.sender == Sender.CUSTOMER and not (message.payload or {}).get("attachment"):
                text = message.text.strip()
                return text if len(text) <= 80 else text[:79] + "…"
        return None


def _parse_rasa_output(raw: list[dict[str, Any]]) -> tuple[list[BotReply], dict[str, Any]]:
    """Split Rasa's REST output into visible replies and the actions' side-channel data."""
    replies: list[BotReply] = []
    effects: dict[str, Any] = {}
    for item in raw:
        custom = item.get("custom")
        if isinstance(custom, dict):
            effects.update(custom)
        text = item.get("text")
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
        ]
        if text or buttons:
            replies.append(BotReply(str(text or ""), buttons))
    return replies, effects
