"""Reading which question an article answered off a conversation's records (webhook/domain/learning.py)."""

import pytest

from webhook.domain.learning import Evidence, evidence, personal_data, question_key, usable


def _candidates(*pairs: tuple[str, str]) -> list[dict]:
    return [{"key": k, "lang": lang, "title": k, "score": 0.8} for k, lang in pairs]


def answered(query: str | None, key: str, lang: str = "en", **extra) -> dict:
    return {
        "kb": {"query": query, "decision": "answer", "answered": key, "candidates": _candidates((key, lang)), **extra}
    }


def clarified(query: str, *keys: str, lang: str = "en") -> dict:
    return {"kb": {"query": query, "decision": "clarify", "candidates": _candidates(*((k, lang) for k in keys))}}


def picked(key: str, lang: str = "en") -> dict:
    return {
        "kb": {
            "query": None,
            "decision": "answer",
            "chosen": key,
            "answered": key,
            "candidates": _candidates((key, lang)),
        }
    }


def said(key: str, helpful: bool) -> dict:
    return {"feedback": {"article": key, "helpful": helpful}}


def test_yes_after_an_answer_vouches_for_the_question():
    history = [answered("When does my parcel come?", "shipping-times")]
    turn = said("shipping-times", True)
    assert evidence(turn, [*history, turn]) == [
        Evidence("shipping-times", "en", "When does my parcel come?", "confirmed")
    ]
    # the turn need not be in the history yet
    assert evidence(turn, history) == evidence(turn, [*history, turn])


def test_no_after_an_answer_counts_against_it():
    turn = said("shipping-times", False)
    assert evidence(turn, [answered("is delivery free", "shipping-times")]) == [
        Evidence("shipping-times", "en", "is delivery free", "unhelpful")
    ]


def test_a_pick_among_the_offered_articles_and_the_yes_after_it():
    clarify = clarified("I have a problem with my package", "order-not-received", "wrong-or-missing-item", lang="fa")
    pick = picked("wrong-or-missing-item", lang="fa")
    assert evidence(pick, [clarify, pick]) == [
        Evidence("wrong-or-missing-item", "fa", "I have a problem with my package", "chosen")
    ]
    yes = said("wrong-or-missing-item", True)
    assert evidence(yes, [clarify, pick, yes]) == [
        Evidence("wrong-or-missing-item", "fa", "I have a problem with my package", "confirmed")
    ]


def test_a_pick_of_an_article_that_was_not_offered_is_no_evidence():
    clarify = clarified("I have a problem with my package", "order-not-received", "damaged-item")
    pick = picked("gift-cards")
    assert evidence(pick, [clarify, pick]) == []


def test_only_the_latest_search_counts():
    """A yes refers to the last answer: an older answer of the same article is not vouched for again."""
    history = [answered("delivery time to Spain?", "shipping-times"), answered("how do I pay?", "payment-methods")]
    assert evidence(said("shipping-times", True), history) == []


def test_a_follow_up_read_with_an_earlier_question_is_left_out():
    history = [answered("is it free?", "shipping-costs", context="how long does delivery take?")]
    assert evidence(said("shipping-costs", True), history) == []


@pytest.mark.parametrize(
    "question",
    [
        "my email is sara.k@example.com, where is my order?",
        "order 4000 1234 5678 9010 not here",
        "سفارش ۱۲۳۴۵۶۷۸ من کجاست؟",  # Persian digits
        "see https://shop.example.com/orders/77",
        "ok",
        "/affirm",
        "x" * 501,
    ],
)
def test_questions_that_cannot_stand_as_phrasings_are_left_out(question):
    assert not usable(question)
    assert evidence(said("track-order", True), [answered(question, "track-order")]) == []


def test_personal_data_and_plain_questions():
    assert personal_data("call me on +98 912 345 6789")
    assert not personal_data("can I return 2 items bought in 2024?")
    assert usable("where is my order?")


def test_two_askings_of_one_question_share_a_key():
    assert question_key("Where is my ORDER??") == question_key("where is my order") == "where is my order"
    assert question_key("كيف أغير كلمة المرور؟") == question_key("كيف اغير كلمه المرور")


def test_with_redaction_a_question_with_personal_data_is_kept_masked():
    from webhook.domain.redaction import Redactor

    redact = Redactor()
    turn = said("track-order", True)
    asked = "my email is sara.k@example.com, where is my order? call ۰۹۱۲۳۴۵۶۷۸۹"
    assert evidence(turn, [answered(asked, "track-order")], redact) == [
        Evidence("track-order", "en", "my email is [email], where is my order? call [phone]", "confirmed")
    ]
    # without redaction it is left out, as before
    assert evidence(turn, [answered(asked, "track-order")]) == []
    # nothing but a placeholder (or too little beside it) is left out
    for bare in ("sara.k@example.com", "+44 7911 123456 ?", "4111 1111 1111 1111 ok"):
        assert evidence(turn, [answered(bare, "track-order")], redact) == []
    # what the redactor does not recognise as personal, but still looks it, stays out
    assert evidence(turn, [answered("سفارش ۱۲۳۴۵۶۷۸ من کجاست؟", "track-order")], redact) == []
    # a plain question is untouched
    assert evidence(turn, [answered("where is my order?", "track-order")], redact) == [
        Evidence("track-order", "en", "where is my order?", "confirmed")
    ]
