"""The product as a customer meets it: HTTP into the running web service, real Rasa behind it."""

import uuid

import httpx
import pytest

from knowledge_base.articles import load_markdown_dir
from tests.conftest import DEMO

TITLES = {(a.key, a.lang): a.title for a in load_markdown_dir(DEMO)}


def _session() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    ("question", "lang", "key"),
    [
        ("how do I return an item?", "en", "return-an-item"),
        ("I forgot my password and can't sign in", "en", "reset-password"),
        ("چطور یک کالا را مرجوع کنم؟", "fa", "return-an-item"),
        ("فاکتور خریدم را از کجا دریافت کنم؟", "fa", "invoice"),
        ("كيف يمكنني إرجاع منتج؟", "ar", "return-an-item"),
        ("كم تكلفة الشحن؟", "ar", "shipping-costs"),
    ],
)
def test_questions_get_the_right_article_in_their_language(stack, question, lang, key):
    response = stack.chat(_session(), question)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["conversation_id"]) == 32
    answer = body["replies"][0]
    assert answer["text"].startswith(TITLES[(key, lang)])
    assert f"/help/{key}?lang={lang}" in answer["text"]
    assert len(answer["buttons"]) == 2


@pytest.mark.parametrize(
    ("greeting", "expected"),
    [("hello", "Larkspur support assistant"), ("سلام، وقت بخیر", "دستیار پشتیبانی"), ("مرحبا", "مساعد دعم")],
)
def test_greetings_are_answered_in_the_same_language(stack, greeting, expected):
    body = stack.chat(_session(), greeting).json()
    assert expected in body["replies"][0]["text"]


def test_the_widget_language_settles_text_shared_by_persian_and_arabic(stack):
    assert "دستیار پشتیبانی" in stack.chat(_session(), "سلام", lang="fa").json()["replies"][0]["text"]
    assert "مساعد دعم" in stack.chat(_session(), "سلام", lang="ar").json()["replies"][0]["text"]


def test_unsure_questions_offer_up_to_three_articles(stack):
    session = _session()
    body = stack.chat(session, "I need help with something").json()
    reply = body["replies"][0]
    article_buttons = [b for b in reply["buttons"] if b["payload"].startswith("/ask_question")]
    assert 1 <= len(article_buttons) <= 3
    choice = article_buttons[0]
    picked = stack.chat(session, choice["title"], payload=choice["payload"]).json()
    assert picked["replies"][0]["text"].startswith(choice["title"])


def test_unknown_questions_are_declined_with_an_offer_of_a_person(stack):
    session = _session()
    body = stack.chat(session, "what is the capital of Mongolia").json()
    reply = body["replies"][0]
    assert "couldn't find" in reply["text"]
    assert reply["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    handoff = stack.chat(session, "Talk to a person", payload="/request_human").json()
    assert "support team" in handoff["replies"][0]["text"]


def test_feedback_buttons_and_history(stack):
    session = _session()
    answer = stack.chat(session, "where is my parcel right now").json()["replies"][0]
    assert answer["text"].startswith(TITLES[("track-order", "en")])
    stack.chat(session, "Yes, thanks", payload="/affirm")
    history = httpx.get(f"{stack.base_url}/api/chat/history", params={"session": session}).json()
    senders = [m["sender"] for m in history["messages"]]
    texts = [m["text"] for m in history["messages"]]
    assert senders == ["customer", "bot", "customer", "bot", "bot"]
    assert texts[2] == "Yes, thanks"
    assert texts[3].startswith("Glad I could help")
    assert texts[4].startswith("How satisfied")  # resolved by the bot: the CSAT question follows


def test_the_chat_page_and_the_article_links_are_served(stack):
    page = httpx.get(f"{stack.base_url}/")
    assert page.status_code == 200 and "/static/widget.js" in page.text
    widget = httpx.get(f"{stack.base_url}/static/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
    article = httpx.get(f"{stack.base_url}/help/return-an-item", params={"lang": "fa"})
    assert article.status_code == 200
    assert TITLES[("return-an-item", "fa")] in article.text and 'dir="rtl"' in article.text
    assert httpx.get(f"{stack.base_url}/help/no-such-article").status_code == 404


def test_health_reports_rasa_and_the_articles(stack):
    health = httpx.get(f"{stack.base_url}/health").json()
    assert health == {"status": "ok", "articles": 72, "rasa": True}


def test_only_rasa_may_call_the_action_endpoint(stack):
    """Rasa reaches the actions (every answer above came through them) with the launcher's token; no one else does."""
    reply = stack.chat(_session(), "how do I return an item?")
    assert reply.status_code == 200, reply.text
    assert reply.json()["replies"][0]["text"].startswith(TITLES[("return-an-item", "en")])
    call = {"next_action": "action_answer_question", "tracker": {"sender_id": "x", "latest_message": {"text": "hi"}}}
    for headers in ({}, {"X-Action-Token": "guess"}):
        refused = httpx.post(f"{stack.base_url}/webhook/actions", json=call, headers=headers)
        assert refused.status_code == 401, refused.text
    assert not any("ACTION_ENDPOINT_TOKEN is empty" in line for line in stack.output)
