"""One customer's data: finding them from what an admin knows, and gathering all we hold.

A customer is found by our customer id, one of their conversation ids, a channel
identity (``telegram:<user id>``, ``web:<session token>``, ``web:user:<id>``) or an
e-mail address that a verified identity carries. Their rows are spread over many
tables; :func:`gather` reads them all into :class:`CustomerExport`, and
:mod:`webhook.store.erasure` removes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Channel
from webhook.domain.identity import USER_PREFIX, session_key
from webhook.store.customer_records import (
    ConversationOut,
    CsatOut,
    CustomerExport,
    CustomerOut,
    DeflectionOut,
    EventOut,
    HandoffOut,
    IdentityOut,
    LinkCodeOut,
    MessageOut,
    NoteOut,
    SuggestionOut,
    TelegramUpdateOut,
    conversation_out,
)
from webhook.store.schema import (
    AgentNote,
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    CsatResponse,
    Customer,
    Deflection,
    HandoffRequest,
    LinkCode,
    Message,
    QuestionSuggestion,
    TelegramUpdate,
    User,
)

# The customer that anonymised conversations belong to: no identities, no name, never found.
ANONYMOUS_CUSTOMER_ID = "anonymous"
MAX_REF_CHARS = 320
# Conversation ids per LIKE search of a JSON column.
_BATCH = 200


def web_identity_keys(token: str) -> list[str]:
    """The stored forms a web reference may name: a verified ``user:<id>`` as it is; a session token
    as its key (:func:`session_key`, how the web channel stores it), or the key itself (as an export shows it).
    """
    return [token] if token.startswith(USER_PREFIX) else [session_key(token), token]


async def _by_identity(session: AsyncSession, channel: Channel, keys: Sequence[str]) -> str | None:
    return await session.scalar(
        select(ChannelIdentity.customer_id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id.in_(keys))
        .limit(1)
    )


async def _by_email(session: AsyncSession, email: str) -> str | None:
    wanted = [email.lower(), f"{USER_PREFIX}{email}".lower()]
    return await session.scalar(
        select(ChannelIdentity.customer_id).where(func.lower(ChannelIdentity.external_id).in_(wanted)).limit(1)
    )


async def find_customer(session: AsyncSession, ref: str) -> Customer | None:
    """The customer ``ref`` names, or None. The anonymous customer is never found."""
    ref = ref.strip()
    if not ref or len(ref) > MAX_REF_CHARS:
        return None
    channel, colon, rest = ref.partition(":")
    customer_id: str | None = None
    if colon and channel in (Channel.TELEGRAM, Channel.WEB) and rest:
        keys = web_identity_keys(rest) if channel == Channel.WEB else [rest]
        customer_id = await _by_identity(session, Channel(channel), keys)
    elif ref.startswith(USER_PREFIX):
        customer_id = await _by_identity(session, Channel.WEB, [ref])
    elif "@" in ref:
        customer_id = await _by_email(session, ref)
    elif await session.get(Customer, ref) is not None:
        customer_id = ref
    else:
        customer_id = await session.scalar(select(Conversation.customer_id).where(Conversation.id == ref))
    if customer_id is None or customer_id == ANONYMOUS_CUSTOMER_ID:
        return None
    return await session.get(Customer, customer_id)


async def conversation_ids(session: AsyncSession, customer_id: str) -> list[str]:
    rows = await session.scalars(
        select(Conversation.id).where(Conversation.customer_id == customer_id).order_by(Conversation.created_at)
    )
    return list(rows)


async def identities(session: AsyncSession, customer_id: str) -> list[ChannelIdentity]:
    rows = await session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id).order_by(ChannelIdentity.id)
    )
    return list(rows)


def _mentioned(column: Any, needles: Iterable[str]) -> Any:
    """A JSON column whose text contains one of ``needles`` (narrowed further in Python)."""
    return or_(*[cast(column, Text).contains(n, autoescape=True) for n in needles])


async def suggestions_naming(session: AsyncSession, ids: Sequence[str]) -> list[QuestionSuggestion]:
    """The learnt questions whose evidence names one of these conversations."""
    wanted, found = set(ids), {}
    for start in range(0, len(ids), _BATCH):
        rows = await session.scalars(
            select(QuestionSuggestion).where(_mentioned(QuestionSuggestion.evidence, ids[start : start + _BATCH]))
        )
        for row in rows:
            if any(pair and pair[0] in wanted for pair in row.evidence or []):
                found[row.id] = row
    return [found[i] for i in sorted(found)]


def _names_user(payload: Any, user_ids: set[int]) -> bool:
    """Whether a Telegram update names one of these users (as its sender, chat or any user object)."""
    if isinstance(payload, dict):
        found = payload.get("id")
        if isinstance(found, int) and found in user_ids and ("first_name" in payload or "type" in payload):
            return True
        return any(_names_user(value, user_ids) for value in payload.values())
    if isinstance(payload, list):
        return any(_names_user(value, user_ids) for value in payload)
    return False


async def telegram_updates_of(session: AsyncSession, telegram_ids: Sequence[str]) -> list[TelegramUpdate]:
    """The stored Telegram updates that name one of these Telegram user ids."""
    numbers = {int(i) for i in telegram_ids if i.lstrip("-").isdigit()}
    if not numbers:
        return []
    rows = await session.scalars(
        select(TelegramUpdate)
        .where(_mentioned(TelegramUpdate.payload, [str(n) for n in numbers]))
        .order_by(TelegramUpdate.update_id)
    )
    return [row for row in rows if _names_user(row.payload, numbers)]


async def _conversation(session: AsyncSession, c: Conversation) -> ConversationOut:
    def rows(model: Any) -> Any:
        return select(model).where(model.conversation_id == c.id).order_by(model.id)

    agent = None if c.agent_id is None else await session.get(User, c.agent_id)
    csat = await session.scalar(select(CsatResponse).where(CsatResponse.conversation_id == c.id))
    return conversation_out(
        c,
        None if agent is None else agent.username,
        [MessageOut.of(m) for m in await session.scalars(rows(Message))],
        [HandoffOut.of(h) for h in await session.scalars(rows(HandoffRequest))],
        [NoteOut.of(n) for n in await session.scalars(rows(AgentNote))],
        [EventOut.of(e) for e in await session.scalars(rows(ConversationEvent))],
        None if csat is None else CsatOut.of(csat),
    )


async def gather(session: AsyncSession, customer: Customer) -> CustomerExport:
    """Everything we hold about ``customer``."""
    conversations = list(
        await session.scalars(
            select(Conversation).where(Conversation.customer_id == customer.id).order_by(Conversation.created_at)
        )
    )
    ids = [c.id for c in conversations]
    known = await identities(session, customer.id)
    deflections = await session.scalars(
        select(Deflection)
        .where(or_(Deflection.customer_id == customer.id, Deflection.conversation_id.in_(ids)))
        .order_by(Deflection.id)
    )
    links = await session.scalars(
        select(LinkCode).where(LinkCode.customer_id == customer.id).order_by(LinkCode.created_at)
    )
    telegram = [i.external_id for i in known if i.channel == Channel.TELEGRAM]
    return CustomerExport(
        exported_at=datetime.now(UTC),
        customer=CustomerOut.of(customer),
        identities=[IdentityOut.of(i) for i in known],
        conversations=[await _conversation(session, c) for c in conversations],
        deflections=[DeflectionOut.of(d) for d in deflections],
        link_codes=[LinkCodeOut.of(link) for link in links],
        suggestions=[SuggestionOut.of(s, set(ids)) for s in await suggestions_naming(session, ids)],
        telegram_updates=[TelegramUpdateOut.of(u) for u in await telegram_updates_of(session, telegram)],
    )
