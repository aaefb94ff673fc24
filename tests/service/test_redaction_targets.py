"""Redaction where it is applied (webhook/domain/redaction.py; docs/security.md, "Redaction").

- Rasa, and so its tracker store, gets the customer's text with personal data masked,
  while our ``messages`` row (what the agent reads) keeps it whole; the actions' search
  still answers the masked question, and an ordinary question reaches Rasa unchanged.
- Learnt-question suggestions keep a question with its personal data masked.
- The content gaps on ``GET /api/metrics`` show declined questions masked.

Each target has its switch (REDACT_RASA, REDACT_SUGGESTIONS, REDACT_ANALYTICS), tested off too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from knowledge_base.articles import load_markdown_dir
from tests.conftest import DEMO
from tests.service.conftest import ChatApp, stored
from tests.service.fake_rasa import FakeRasa
from webhook.app import conversation_service
from webhook.domain.enums import Channel, Sender
from webhook.domain.messages import InboundMessage
from webhook.runtime.events import LocalBus
from webhook.runtime.rasa_client import RasaClient
from webhook.settings import Settings
from webhook.store import articles as article_store
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.schema import Conversation, Customer, Message, QuestionSuggestion

EMAIL, PHONE, CARD = "sara.k@example.com", "0912 345 6789", "4111 1111 1111 1111"


def chat(app: ChatApp, text: str, **extra: Any) -> dict[str, Any]:
    response = app.http.post("/api/chat", json={"session": uuid.uuid4().hex, "text": text, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- the text sent to Rasa ----------------------------------------------------------------
def test_rasa_gets_the_text_masked_and_the_agent_the_original(chat_app: ChatApp) -> None:
    text = f"How do I return an item? My email is {EMAIL} and my phone is {PHONE}"
    body = chat(chat_app, text, lang="en")
    sent = chat_app.rasa.received[-1]["message"]
    assert sent == "How do I return an item? My email is [email] and my phone is [phone]"
    tracked = json.dumps(chat_app.rasa.tracker(body["conversation_id"]), ensure_ascii=False)
    assert EMAIL not in tracked and PHONE not in tracked and "[email]" in tracked
    [(kept,)] = stored(
        chat_app.database_url,
        "SELECT text FROM messages WHERE conversation_id = :c AND sender = 'customer'",
        c=body["conversation_id"],
    )
    assert kept == text  # the agent reads what the customer wrote
    assert body["replies"][0]["text"].startswith("How do I return an item?")  # the search answered the masked text


@pytest.mark.parametrize(
    "text",
    [
        "I was charged $45.99 twice on 2024-05-31, order 48213",
        "سفارش ۵۵۲۹۰۱ من کی می‌رسه؟ ۳ تا کتاب ۱۲۰۰ تومان",
        "طلبت ٣ قطع بتاريخ ١٤٤٥/١١/٢٣ ولم تصل",
    ],
)
def test_an_ordinary_question_reaches_rasa_unchanged(chat_app: ChatApp, text: str) -> None:
    chat(chat_app, text)
    assert chat_app.rasa.received[-1]["message"] == text


# -- learnt-question suggestions -------------------------------------------------------------
async def _suggestions(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(QuestionSuggestion.text).order_by(QuestionSuggestion.id)))


@pytest.fixture
async def demo_db(db: Database) -> Database:
    async with db.session() as session:
        await article_store.import_articles(session, load_markdown_dir(DEMO))
        await session.commit()
    return db


@pytest.mark.parametrize(
    ("redact_rasa", "redact_suggestions", "rasa_sees_phone", "suggested"),
    [
        (True, True, False, ["how long does express delivery take? call me on [phone]"]),
        (False, True, True, ["how long does express delivery take? call me on [phone]"]),  # learning masks it
        (False, False, True, []),  # no redaction: a question with personal data is left out, as before
    ],
)
async def test_a_learnt_question_keeps_its_words_and_loses_its_personal_data(
    demo_db: Database,
    fake_rasa: FakeRasa,
    dialogue_kb: Any,
    redact_rasa: bool,
    redact_suggestions: bool,
    rasa_sees_phone: bool,
    suggested: list[str],
) -> None:
    settings = Settings(redact_rasa=redact_rasa, redact_suggestions=redact_suggestions)
    rasa: RasaClient = fake_rasa.client()
    service = conversation_service(settings, demo_db, rasa, LocalBus(), dialogue_kb)  # as the app wires it
    session = uuid.uuid4().hex
    asked = f"how long does express delivery take? call me on {PHONE}"
    try:
        await service.handle(InboundMessage(Channel.WEB, session, asked))
        await service.handle(InboundMessage(Channel.WEB, session, "Yes", payload="/affirm"))
    finally:
        await rasa.close()
    assert (PHONE in fake_rasa.received[0]["message"]) is rasa_sees_phone
    assert await _suggestions(demo_db) == suggested


# -- the content gaps on /api/metrics ------------------------------------------------------------
async def _declined(db: Database, *questions: str) -> None:
    """A conversation of yesterday whose bot messages record these questions as declined."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with db.session() as session:
        customer = Customer(language="en")
        session.add(customer)
        await session.flush()
        conversation = Conversation(customer_id=customer.id, created_at=yesterday, channel=Channel.WEB, language="en")
        session.add(conversation)
        await session.flush()
        for question in questions:
            payload = {"kb": {"query": question, "decision": "decline", "candidates": []}}
            session.add(
                Message(
                    conversation_id=conversation.id,
                    sender=Sender.BOT,
                    channel=Channel.WEB,
                    text="Sorry, I don't know that one.",
                    payload=payload,
                    created_at=yesterday,
                )
            )
        await user_store.create_user(session, "root", "correct horse", "admin")
        await session.commit()


@pytest.fixture
async def admin_client(db: Database, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The product's app on the test database (no lifespan), signed in as an admin."""
    from webhook.app import create_app

    settings = Settings(database_url=db.url, redact_analytics=request.param, rate_limit_enabled=False)
    app = create_app(settings)
    app.state.db = db
    await _declined(
        db,
        f"my card {CARD} was charged twice",
        "my card 5555-5555-5555-4444 was charged twice",  # another card: the same gap once masked
        f"please email me at {EMAIL}",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        login = await http.post("/api/agent/login", json={"username": "root", "password": "correct horse"})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['token']}"
        http.cookies.clear()
        yield http


@pytest.mark.parametrize("admin_client", [True], indirect=True)
async def test_content_gaps_show_declined_questions_masked(admin_client: httpx.AsyncClient) -> None:
    response = await admin_client.get("/api/metrics")
    assert response.status_code == 200, response.text
    gaps = {g["question"]: g["count"] for g in response.json()["content_gaps"]}
    assert gaps == {"my card [card] was charged twice": 2, "please email me at [email]": 1}
    assert CARD not in response.text and EMAIL not in response.text


@pytest.mark.parametrize("admin_client", [False], indirect=True)
async def test_content_gaps_unmasked_when_redact_analytics_is_off(admin_client: httpx.AsyncClient) -> None:
    gaps = (await admin_client.get("/api/metrics")).json()["content_gaps"]
    assert f"my card {CARD} was charged twice" in {g["question"] for g in gaps}
