"""Questions learnt from conversations: recorded from real chats with Rasa.

How they are counted in the store, and accepted or dismissed through the editor API, is
in tests/service/test_question_suggestions.py.
"""

import uuid

import pytest
from sqlalchemy import select

from knowledge_base.articles import load_markdown_dir
from tests.conftest import DEMO
from webhook.app import conversation_service
from webhook.domain.enums import Channel
from webhook.domain.messages import InboundMessage
from webhook.listeners.deflections import DeflectionLog
from webhook.listeners.question_learning import QuestionLearning
from webhook.runtime.events import LocalBus
from webhook.runtime.rasa_client import RasaClient
from webhook.services.conversations import ConversationService
from webhook.settings import Settings
from webhook.store import articles as article_store
from webhook.store.schema import QuestionSuggestion


def _session() -> str:
    return f"web-{uuid.uuid4().hex}"


async def _with_demo(db) -> None:
    async with db.session() as s:
        await article_store.import_articles(s, load_markdown_dir(DEMO))
        await s.commit()


async def _suggestions(db) -> list[QuestionSuggestion]:
    async with db.session() as s:
        return list(await s.scalars(select(QuestionSuggestion).order_by(QuestionSuggestion.id)))


@pytest.fixture
async def service(db, stack):
    await _with_demo(db)
    rasa = RasaClient(stack.rasa_url, stack.rasa_token)
    yield ConversationService(db, rasa, listeners=[DeflectionLog(), QuestionLearning()])
    await rasa.close()


# -- from real conversations ----------------------------------------------------------
async def test_a_confirmed_answer_suggests_the_customers_question(service, db):
    session = _session()
    asked = await service.handle(InboundMessage(Channel.WEB, session, "how long does express delivery take?"))
    assert (await _suggestions(db)) == []  # nothing until the customer says it helped
    await service.handle(InboundMessage(Channel.WEB, session, "Yes", payload="/affirm"))
    [row] = await _suggestions(db)
    assert (row.key, row.lang, row.text, row.status) == (
        "shipping-times",
        "en",
        "how long does express delivery take?",
        "pending",
    )
    assert (row.confirmed, row.chosen, row.unhelpful) == (1, 0, 0)
    assert row.evidence == [[asked.conversation_id, "confirmed"]]

    # another customer, the same question written differently: the same suggestion, counted again
    other = _session()
    await service.handle(InboundMessage(Channel.WEB, other, "How long does EXPRESS delivery take"))
    await service.handle(InboundMessage(Channel.WEB, other, "Yes", payload="/affirm"))
    [row] = await _suggestions(db)
    assert row.confirmed == 2 and len(row.evidence) == 2


async def test_a_picked_article_suggests_the_question_it_was_picked_for(service, db):
    session = _session()
    clarify = await service.handle(InboundMessage(Channel.WEB, session, "I have a problem with my package"))
    offered = [b["payload"] for b in clarify.replies[0].buttons]
    pick = next(p for p in offered if "wrong-or-missing-item" in p)  # not the top one
    await service.handle(InboundMessage(Channel.WEB, session, "Wrong or missing item", payload=pick))
    [row] = await _suggestions(db)
    assert (row.key, row.text, row.chosen, row.confirmed) == (
        "wrong-or-missing-item",
        "I have a problem with my package",
        1,
        0,
    )
    await service.handle(InboundMessage(Channel.WEB, session, "Yes", payload="/affirm"))
    [row] = await _suggestions(db)
    assert (row.chosen, row.confirmed) == (1, 1)
    assert row.evidence == [[clarify.conversation_id, "chosen"], [clarify.conversation_id, "confirmed"]]


async def test_what_the_article_says_already_and_personal_data_are_not_suggested(service, db):
    for question in ("When will my order arrive?", "I ordered with sara.k@example.com: when will my order arrive?"):
        session = _session()
        await service.handle(InboundMessage(Channel.WEB, session, question))
        await service.handle(InboundMessage(Channel.WEB, session, "Yes", payload="/affirm"))
    assert await _suggestions(db) == []


async def test_learning_can_be_turned_off(db, stack):
    await _with_demo(db)
    rasa = RasaClient(stack.rasa_url, stack.rasa_token)
    quiet = conversation_service(Settings(kb_learn_questions=False), db, rasa, LocalBus(), None)  # as the app wires it
    session = _session()
    await quiet.handle(InboundMessage(Channel.WEB, session, "how long does express delivery take?"))
    await quiet.handle(InboundMessage(Channel.WEB, session, "Yes", payload="/affirm"))
    await rasa.close()
    assert await _suggestions(db) == []
