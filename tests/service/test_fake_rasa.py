"""The fake Rasa keeps to what the real one does where the service tier relies on it.

What the real server does is checked against the trained model by tests/rasa (the rules,
the NLU) and by the stack tier (the whole turn); here, the fake's side of the same contract.
"""

from __future__ import annotations

import httpx
import pytest

from tests.service.fake_rasa import FakeRasa, load_rules


def test_the_rules_are_the_training_datas():
    rules = load_rules()
    assert rules["affirm"] == rules["deny"] == "action_feedback"
    assert rules["request_human"] == "action_request_human"  # wherever in data/ its rule lives
    assert rules["ask_question"] == rules["nlu_fallback"] == "action_answer_question"
    assert rules["greet"] == "utter_greet"


async def test_a_greeting_is_the_domains_response_in_the_language_of_the_metadata():
    fake = FakeRasa(texts={"سلام": "greet"})
    replies = await fake.message("c-1", "سلام", {"lang": "fa"})
    assert [r["text"] for r in replies] == [fake.domain["responses"]["utter_greet"][0]["text"]]
    assert fake.tracker("c-1")["slots"]["language"] == "fa"  # set by action_validate_slot_mappings, as in Rasa
    english = await fake.message("c-2", "سلام", {})
    assert english[0]["text"].startswith("Hi! I'm the Larkspur support assistant")


async def test_an_answer_is_one_message_with_buttons_and_its_record_another(fake_rasa: FakeRasa):
    replies = await fake_rasa.message("c-3", "How do I return an item?", {"lang": "en"})
    assert [sorted(r) for r in replies] == [["buttons", "recipient_id", "text"], ["custom", "recipient_id"]]
    assert replies[1]["custom"]["kb"]["answered"] == "return-an-item"
    assert fake_rasa.tracker("c-3")["slots"]["last_article"] == "return-an-item"
    picked = await fake_rasa.message("c-3", '/ask_question{"article_id": "shipping-times"}', {"lang": "en"})
    assert picked[1]["custom"]["kb"]["chosen"] == "shipping-times"


async def test_a_paused_tracker_logs_the_message_and_says_nothing(fake_rasa: FakeRasa):
    client = fake_rasa.client()
    try:
        assert await client.append_events("c-4", [{"event": "pause"}])
        assert await client.send("c-4", "hello?", {"lang": "en"}) == []
        assert [e["text"] for e in fake_rasa.tracker("c-4")["events"] if e["event"] == "user"] == ["hello?"]
        assert await client.append_events("c-4", [{"event": "resume"}])
        assert await client.send("c-4", "/request_human", {"lang": "en"})
    finally:
        await client.close()


async def test_the_http_api_needs_the_token_but_the_rest_channel_does_not(fake_rasa: FakeRasa):
    async with httpx.AsyncClient(transport=fake_rasa.transport, base_url="http://rasa.fake") as http:
        assert (await http.get("/status")).status_code == 401
        assert (await http.get("/conversations/x/tracker")).status_code == 401
        assert (await http.get("/status", params={"token": fake_rasa.token})).json()["model_file"]
        sent = await http.post("/webhooks/rest/webhook", json={"sender": "x", "message": "/deny"})
        assert sent.status_code == 200 and sent.json()[0]["recipient_id"] == "x"


async def test_down_is_a_refused_connection(fake_rasa: FakeRasa):
    client = fake_rasa.client(timeout_s=1)
    fake_rasa.down = True
    try:
        assert await client.ready() is False
        with pytest.raises(Exception, match="down"):
            await client.send("c-5", "hello", {})
    finally:
        await client.close()
