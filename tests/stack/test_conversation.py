"""The conversation service against the real Rasa server, on SQLite and PostgreSQL.

Rasa runs its actions on the stack's web service; the service under test here
has its own database, so every database backend gets the whole path. Where Rasa
has no say (it is down, or never asked) the tests are in tests/service/test_conversation.py.
"""

import uuid

import httpx
import pytest
from sqlalchemy import select

from webhook.domain.enums import Channel, ConversationStatus
from webhook.domain.errors import BotUnavailable
from webhook.domain.messages import InboundMessage
from webhook.runtime.rasa_client import RasaClient
from webhook.services.conversations import ConversationService
from webhook.store import conversations as repo
from webhook.store.schema import Conversation, Message


@pytest.fixture
async def service(db, stack):
    rasa = RasaClient(stack.rasa_url, stack.rasa_token)
    yield ConversationService(db, rasa)
    await rasa.close()


def _session() -> str:
    return f"web-{uuid.uuid4().hex}"


async def _messages(db, conversation_id):
    async with db.session() as s:
        return await repo.messages_after(s, conversation_id)


async def test_a_question_is_stored_answered_and_the_answer_stored(service, db):
    outcome = await service.handle(InboundMessage(Channel.WEB, _session(), "How do I return an item?"))
    assert outcome.language == "en"
    assert "How do I return an item?" in outcome.replies[0].text
    assert [b["payload"] for b in outcome.replies[0].buttons] == ["/affirm", "/deny"]
    stored = await _messages(db, outcome.conversation_id)
    assert stored[0].sender == "customer" and stored[0].text == "How do I return an item?"
    assert [m.sender for m in stored[1:]] == ["bot"] * len(outcome.replies)
    async with db.session() as s:
        first_bot = await s.get(Message, stored[1].id)
    assert first_bot.payload["kb"]["decision"] == "answer"
    assert first_bot.payload["kb"]["candidates"][0]["key"] == "return-an-item"


async def test_rasa_sender_id_is_the_conversation_not_the_channel_user(service, stack):
    session = _session()
    outcome = await service.handle(InboundMessage(Channel.WEB, session, "كيف أغير كلمة المرور؟"))
    tracker = stack.tracker(outcome.conversation_id)
    user_texts = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert user_texts == ["كيف أغير كلمة المرور؟"]
    assert tracker["slots"]["language"] == "ar"
    assert not [e for e in stack.tracker(session)["events"] if e["event"] == "user"]


async def test_asking_for_a_human_records_a_handoff_request(service, db):
    outcome = await service.handle(InboundMessage(Channel.WEB, _session(), "می‌خواهم با یک اپراتور صحبت کنم"))
    assert outcome.language == "fa"
    assert "پشتیبانی" in outcome.replies[0].text
    async with db.session() as s:
        conversation = await s.get(Conversation, outcome.conversation_id)
        requests = await repo.handoff_requests(s, outcome.conversation_id)
    assert conversation.status == ConversationStatus.WAITING_FOR_AGENT
    assert [r.reason for r in requests] == ["customer_request"]


async def test_a_resent_client_message_id_is_stored_once(service, db):
    session = _session()
    first = await service.handle(InboundMessage(Channel.WEB, session, "how much is shipping?", client_message_id="c-1"))
    again = await service.handle(InboundMessage(Channel.WEB, session, "how much is shipping?", client_message_id="c-1"))
    assert again.duplicate and again.message_id == first.message_id
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    async with db.session() as s:
        rows = (await s.scalars(select(Message).where(Message.client_message_id == "c-1"))).all()
    assert len(rows) == 1


async def test_context_carries_between_turns_and_feedback_is_kept(service, db):
    session = _session()
    await service.handle(InboundMessage(Channel.WEB, session, "how long does express delivery take?"))
    feedback = await service.handle(InboundMessage(Channel.WEB, session, "Yes, thanks", payload="/affirm"))
    assert "Glad I could help" in feedback.replies[0].text
    stored = await _messages(db, feedback.conversation_id)
    glad = next(m for m in stored if m.text.startswith("Glad I could help"))
    async with db.session() as s:
        row = await s.get(Message, glad.id)
    assert row.payload == {"feedback": {"article": "shipping-times", "helpful": True}}


async def test_rasa_api_refuses_requests_without_the_token(stack):
    response = httpx.get(f"{stack.rasa_url}/conversations/x/tracker")
    assert response.status_code == 401


async def test_a_message_stored_before_a_crash_is_answered_at_the_next_start(service, db, stack):
    # The process stored the message (and acknowledged it), then died before Rasa answered.
    dead = ConversationService(db, RasaClient("http://127.0.0.1:9", timeout_s=2))
    session = _session()
    with pytest.raises(BotUnavailable) as stored:
        await dead.handle(InboundMessage(Channel.WEB, session, "how do I reset my password?", client_message_id="c-9"))
    await dead.rasa.close()
    # an old unanswered message is left alone; the recent one is answered once
    assert await service.answer_unanswered(max_age_s=600) == 1
    assert await service.answer_unanswered(max_age_s=600) == 0
    messages = await _messages(db, stored.value.conversation_id)
    assert [m.sender for m in messages] == ["customer", "bot"]
    assert messages[1].text.startswith("I forgot my password")


async def test_a_pressed_button_is_replayed_with_its_payload(service, db):
    session = _session()
    first = await service.handle(InboundMessage(Channel.WEB, session, "how long does express delivery take?"))
    dead = ConversationService(db, RasaClient("http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(BotUnavailable):
        await dead.handle(InboundMessage(Channel.WEB, session, "Yes, thanks", payload="/affirm"))
    await dead.rasa.close()
    assert await service.answer_unanswered() == 1
    messages = await _messages(db, first.conversation_id)
    pressed = next(i for i, m in enumerate(messages) if m.payload == {"button": "/affirm"})
    assert messages[pressed].text == "Yes, thanks"
    assert messages[pressed + 1].text.startswith("Glad I could help")
