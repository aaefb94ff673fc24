"""The conversation service on SQLite and PostgreSQL where Rasa has no say: it is down, or never asked.

The service's turns through the real Rasa server are in tests/stack/test_conversation.py.
"""

import uuid

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
