"""Handoff triggers, the queue, agents' actions, CSAT and deflections: the services on real databases.

The bot is the stack's real Rasa server; each database backend gets its own
conversation and agent services. The offline queue and the agents' race, which need no
more of Rasa than a button's payload, are in tests/service/test_handoff.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.handoff_support import conversation, make_agent, web
from webhook.domain.enums import Channel, ConversationStatus
from webhook.domain.errors import NotAllowed
from webhook.domain.handoff import HandoffRules
from webhook.domain.policy import ConversationPolicy
from webhook.listeners.deflections import DeflectionLog
from webhook.runtime.rasa_client import RasaClient
from webhook.services.agents import AgentService
from webhook.services.conversations import ConversationService
from webhook.store.schema import Conversation, CsatResponse, Deflection, HandoffRequest


@pytest.fixture
async def rasa(stack):
    client = RasaClient(stack.rasa_url, stack.rasa_token)
    yield client
    await client.close()


@pytest.fixture
async def service(db, rasa):
    return ConversationService(db, rasa, listeners=[DeflectionLog()])


@pytest.fixture
async def agents(service):
    return AgentService(service)


async def reasons(db, conversation_id: str) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(
            select(HandoffRequest.reason).where(HandoffRequest.conversation_id == conversation_id)
        )
        return list(rows)


@pytest.mark.parametrize(
    "words", ["I want to talk to a person", "می‌خواهم با یک اپراتور صحبت کنم", "أريد التحدث إلى موظف"]
)
async def test_asking_for_a_person_in_any_language_queues_the_conversation(service, agents, db, stack, words):
    agent = await make_agent(db, "sara")
    await agents.set_presence(agent, True)
    outcome = await service.handle(web(uuid.uuid4().hex, words))
    queued = await conversation(db, outcome.conversation_id)
    assert queued.status == ConversationStatus.WAITING_FOR_AGENT and queued.queued_at is not None
    assert not queued.ticket
    assert await reasons(db, outcome.conversation_id) == ["customer_request"]
    notice = outcome.replies[-1].text
    assert any(digit in notice for digit in "1۱") and notice != outcome.replies[0].text
    assert stack.tracker(outcome.conversation_id)["paused"] is True  # Rasa's tracker says so too


async def test_two_declines_in_a_row_hand_off(service, db):
    session_id = uuid.uuid4().hex
    first = await service.handle(web(session_id, "What is the capital of France?"))
    assert (await conversation(db, first.conversation_id)).status == ConversationStatus.BOT
    second = await service.handle(web(session_id, "who won the football match yesterday"))
    assert await reasons(db, second.conversation_id) == ["repeated_decline"]


async def test_switched_off_triggers_do_not_fire(db, rasa):
    service = ConversationService(db, rasa, ConversationPolicy(rules=HandoffRules(0, 0, 0)))
    session_id = uuid.uuid4().hex
    for text in ("What is the capital of France?", "who won the football match yesterday", "THIS IS USELESS!!!"):
        outcome = await service.handle(web(session_id, text))
    assert (await conversation(db, outcome.conversation_id)).status == ConversationStatus.BOT


async def test_this_did_not_help_twice_hands_off(service, db):
    session_id = uuid.uuid4().hex
    await service.handle(web(session_id, "how long does express delivery take?"))
    await service.handle(web(session_id, "No", payload="/deny"))
    await service.handle(web(session_id, "How do I return an item?"))
    outcome = await service.handle(web(session_id, "No", payload="/deny"))
    assert await reasons(db, outcome.conversation_id) == ["not_helpful"]


async def test_frustration_hands_off_with_an_explanation(service, db):
    session_id = uuid.uuid4().hex
    await service.handle(web(session_id, "where is my order?"))
    outcome = await service.handle(web(session_id, "THIS IS USELESS, WHERE IS MY ORDER???"))
    async with db.session() as session:
        request = await session.scalar(
            select(HandoffRequest).where(HandoffRequest.conversation_id == outcome.conversation_id)
        )
    assert request is not None and request.reason == "frustration"
    assert set(request.detail["signals"]) >= {"negative_words", "all_caps", "punctuation"}
    assert "useless" in request.detail["explanation"]
    assert outcome.replies[0].text.startswith("I'm sorry this has been frustrating")


async def test_agent_owns_replies_bot_is_silent_then_gives_back_with_context(service, agents, db, stack):
    session_id = uuid.uuid4().hex
    await service.handle(web(session_id, "How do I return an item?"))
    handed = await service.handle(web(session_id, "Talk to a person", payload="/request_human"))
    agent = await make_agent(db, "carla")
    packet = await agents.claim(handed.conversation_id, agent)
    assert packet.conversation.status == "with_agent" and packet.reason == "customer_request"
    assert packet.summary.question == "How do I return an item?"
    assert packet.summary.articles[0].key == "return-an-item"

    quiet = await service.handle(web(session_id, "is anyone there?"))
    assert quiet.replies == []  # the bot says nothing while an agent owns the conversation
    sent = await agents.reply(handed.conversation_id, agent, "Hi, I'm Carla. Let me check that for you.")
    assert sent.sender == "agent" and sent.author == "Carla"
    note = await agents.note(handed.conversation_id, agent, "customer seems in a hurry")
    _, visible = await service.transcript(Channel.WEB, session_id)
    assert note.text not in [m.text for m in visible]  # notes never reach the customer

    await agents.release(handed.conversation_id, agent)
    assert stack.tracker(handed.conversation_id)["paused"] is False
    back = await service.handle(web(session_id, "Is it free?"))
    assert back.replies and back.replies[0].text.startswith("How do I return an item?")  # context intact


async def test_resolve_asks_for_csat_once_and_stores_rating_and_comment(service, agents, db):
    session_id = uuid.uuid4().hex
    handed = await service.handle(web(session_id, "Talk to a person", payload="/request_human"))
    agent = await make_agent(db, "dina")
    await agents.claim(handed.conversation_id, agent)
    await agents.reply(handed.conversation_id, agent, "Done, your address is changed.")
    await agents.resolve(handed.conversation_id, agent)
    _, shown = await service.transcript(Channel.WEB, session_id)
    question = shown[-1]
    assert [b["payload"] for b in question.buttons] == [f"csat:{n}" for n in range(1, 6)]

    rated = await service.handle(web(session_id, "4", payload="csat:4"))
    assert rated.conversation_id == handed.conversation_id and "tell us more" in rated.replies[0].text
    thanked = await service.handle(web(session_id, "Quick and friendly, thanks"))
    assert thanked.replies[0].text == "Thanks for your feedback!"
    with pytest.raises(NotAllowed):  # it is resolved: nothing more to resolve
        await agents.resolve(handed.conversation_id, agent)
    assert await service.resolve(handed.conversation_id, "agent", agent) == []  # and no second question
    async with db.session() as session:
        rows = list(
            await session.scalars(select(CsatResponse).where(CsatResponse.conversation_id == handed.conversation_id))
        )
    assert len(rows) == 1
    answer = rows[0]
    assert (answer.rating, answer.comment, answer.resolver, answer.agent_id) == (
        4,
        "Quick and friendly, thanks",
        "agent",
        agent.id,
    )
    assert (answer.channel, answer.language) == (Channel.WEB, "en")
    # the next message is a new conversation with the bot
    after = await service.handle(web(session_id, "where is my order?"))
    assert after.conversation_id != handed.conversation_id


async def test_a_confirmed_answer_resolves_by_the_bot_and_logs_a_confirmed_deflection(service, db):
    session_id = uuid.uuid4().hex
    first = await service.handle(web(session_id, "How do I reset my password?"))
    helped = await service.handle(web(session_id, "Yes, thanks", payload="/affirm"))
    assert any(r.buttons and r.buttons[0]["payload"] == "csat:1" for r in helped.replies)
    resolved = await conversation(db, first.conversation_id)
    assert resolved.status == ConversationStatus.RESOLVED and resolved.resolved_by == "bot"
    async with db.session() as session:
        row = await session.scalar(select(Deflection).where(Deflection.conversation_id == first.conversation_id))
    assert row is not None and row.status == "confirmed" and row.articles == ["reset-password"]


async def test_an_assumed_deflection_is_undone_by_a_recontact_on_the_same_topic(service, db):
    session_id = uuid.uuid4().hex
    first = await service.handle(web(session_id, "How do I return an item?"))
    async with db.session() as session:
        row = await session.scalar(select(Deflection).where(Deflection.conversation_id == first.conversation_id))
        assert row is not None and row.status == "assumed" and row.articles == ["return-an-item"]
        # the conversation ended there (resolved quietly, as an idle timeout would)
        await session.execute(
            update(Conversation).where(Conversation.id == first.conversation_id).values(status="resolved")
        )
        await session.commit()
    # an unrelated question later does not undo it
    await service.handle(web(session_id, "do you sell gift cards?"))
    async with db.session() as session:
        row = await session.scalar(select(Deflection).where(Deflection.conversation_id == first.conversation_id))
        assert row.status == "assumed"
        await session.execute(
            update(Conversation).where(Conversation.customer_id == row.customer_id).values(status="resolved")
        )
        await session.commit()
    # the customer comes back about returns within the window: it was not a deflection after all
    await service.handle(web(session_id, "I still can't return my order"))
    async with db.session() as session:
        row = await session.scalar(select(Deflection).where(Deflection.conversation_id == first.conversation_id))
    assert row.status == "reverted" and row.reverted_reason == "recontact"


async def test_a_recontact_after_the_window_leaves_the_deflection(db, rasa):
    service = ConversationService(db, rasa, listeners=[DeflectionLog(window_h=1)])
    session_id = uuid.uuid4().hex
    first = await service.handle(web(session_id, "How do I return an item?"))
    async with db.session() as session:
        await session.execute(
            update(Deflection)
            .where(Deflection.conversation_id == first.conversation_id)
            .values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
        await session.execute(update(Conversation).values(status="resolved"))
        await session.commit()
    await service.handle(web(session_id, "How do I return an item?"))
    async with db.session() as session:
        row = await session.scalar(select(Deflection).where(Deflection.conversation_id == first.conversation_id))
    assert row is not None and row.status == "assumed"
