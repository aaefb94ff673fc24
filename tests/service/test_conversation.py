"""The conversation service on SQLite and PostgreSQL where Rasa has no say: it is down, or never asked.

The service's turns through the real Rasa server are in tests/stack/test_conversation.py.
"""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from webhook.domain.enums import Channel
from webhook.domain.errors import BotUnavailable, MessageRejected
from webhook.domain.messages import InboundMessage
from webhook.runtime.rasa_client import RasaClient
from webhook.services.conversations import ConversationService
from webhook.store import conversations as repo
from webhook.store.schema import Message


@pytest.fixture
async def service(db, rasa):
    return ConversationService(db, rasa)  # rasa: the fake (tests/service/conftest.py)


def _session() -> str:
    return f"web-{uuid.uuid4().hex}"


async def _messages(db, conversation_id):
    async with db.session() as s:
        return await repo.messages_after(s, conversation_id)


async def test_the_message_is_stored_even_when_rasa_is_down(db):
    dead = RasaClient("http://127.0.0.1:9", timeout_s=2)
    service = ConversationService(db, dead)
    with pytest.raises(BotUnavailable) as caught:
        await service.handle(InboundMessage(Channel.WEB, _session(), "where is my order?"))
    await dead.close()
    stored = await _messages(db, caught.value.conversation_id)
    assert [(m.sender, m.text) for m in stored] == [("customer", "where is my order?")]


async def test_empty_and_oversized_messages_are_rejected_before_storing(service, db):
    with pytest.raises(MessageRejected):
        await service.handle(InboundMessage(Channel.WEB, _session(), "   "))
    with pytest.raises(MessageRejected):
        await service.handle(InboundMessage(Channel.WEB, _session(), "x" * 4001))
    async with db.session() as s:
        assert (await s.scalars(select(Message))).all() == []


async def test_recovery_at_start_leaves_messages_stored_since_the_start_to_their_own_turns(db, rasa):
    # One message left unanswered by the last run, one stored after this process started
    # (its turn is in flight): recovery answers the first only, so nobody is answered twice.
    dead = ConversationService(db, RasaClient("http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(BotUnavailable) as left:
        await dead.handle(InboundMessage(Channel.WEB, _session(), "how do I reset my password?"))
    started = datetime.now(UTC)
    with pytest.raises(BotUnavailable) as in_flight:
        await dead.handle(InboundMessage(Channel.WEB, _session(), "where is my order?"))
    await dead.rasa.close()
    service = ConversationService(db, rasa)
    assert await service.answer_unanswered(before=started) == 1
    assert [m.sender for m in await _messages(db, left.value.conversation_id)] == ["customer", "bot"]
    assert [m.sender for m in await _messages(db, in_flight.value.conversation_id)] == ["customer"]
