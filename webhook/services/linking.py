"""One customer across channels: link codes, verified user ids, and the welcome back.

A customer on Telegram asks for a link to the website (or the other way round);
the code in it joins the other channel's identity to the same customer and
conversation, and the customer is greeted with what they were asking about. A
host site that vouches for its user (a signed user id) joins every session that
presents it to one customer.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.text import LANGUAGES
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.messages import BotReply
from webhook.domain.phrases import phrase
from webhook.domain.policy import ConversationPolicy
from webhook.domain.turns import ActionReport, CustomerRecord, ServiceRecord
from webhook.services.posting import Poster
from webhook.store import conversations as repo
from webhook.store import identities
from webhook.store.database import Database
from webhook.store.identities import IssuedCode
from webhook.store.schema import Conversation, Customer

IdentityLocks = defaultdict[tuple[str, str], asyncio.Lock]  # one turn at a time per (channel, external id)
ArticleTitle = Callable[[str, str], str | None]  # a help article's title in a language
TOPIC_CHARS = 80  # a question quoted as the topic is cut to this length


class Linking:
    """Issues and redeems link codes, joins verified user ids, and welcomes a customer back."""

    def __init__(
        self,
        db: Database,
        poster: Poster,
        locks: IdentityLocks,
        policy: ConversationPolicy,
        article_title: ArticleTitle | None = None,
    ) -> None:
        self.db = db
        self.poster = poster
        self.locks = locks  # shared with the turns, so a redeem never runs beside a turn of the same identity
        self.policy = policy
        self.article_title = article_title  # for "you were asking about"

    async def issue_link(self, channel: Channel, external_id: str, target: Channel) -> IssuedCode:
        """A one-time code with which ``target`` joins this identity's customer and conversation."""
        async with self.db.session() as session:
            customer = await repo.find_or_create_customer(session, channel, external_id)
            conversation = await repo.current_conversation(session, customer.id)
            issued = await identities.issue_link_code(session, customer, conversation, target, self.policy.link_ttl_s)
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
        async with self.locks[(channel.value, external_id)], self.db.session() as session:
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
            lang = kept.language or self.policy.default_language
            conversation_id = kept.id
            await session.commit()
        text = phrase("welcome_back_topic", lang, topic=topic) if topic else phrase("welcome_back", lang)
        await self.poster.post(conversation_id, channel, [BotReply(text)], record=ServiceRecord(linked=channel.value))
        return conversation_id

    async def identify(self, channel: Channel, external_id: str, user_key: str, display_name: str | None) -> str:
        """A verified user id from the host site: every identity presenting it joins one customer."""
        async with self.locks[(channel.value, external_id)], self.db.session() as session:
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

    async def _topic(self, session: AsyncSession, conversation: Conversation) -> str | None:
        """What the customer was asking about: the last article answered, else their last question."""
        messages = await repo.messages_after(session, conversation.id)
        lang = conversation.language or self.policy.default_language
        for message in reversed(messages):
            kb = ActionReport.read(message.payload).kb if message.sender == Sender.BOT else None
            if kb is not None and kb.answered:
                title = self.article_title(kb.answered, lang) if self.article_title else None
                if title is None:
                    title = kb.title_of(kb.answered)
                if title:
                    return title
        for message in reversed(messages):
            if message.sender == Sender.CUSTOMER and not CustomerRecord.read(message.payload).attachment:
                text = message.text.strip()
                return text if len(text) <= TOPIC_CHARS else text[: TOPIC_CHARS - 1] + "…"
        return None
