"""Which customer questions an article answered, by the customer's own account.

The help centre's alternative questions are what search matches and what the
optimise job trains on; customers keep asking in words nobody wrote down. When a
customer says an answer helped, or picks an article from the ones offered, the
question they asked is a phrasing of that article in their own words. This module
reads that evidence off a conversation's records (the actions' search and
feedback reports, :mod:`webhook.domain.turns`); ``webhook/store/suggestions.py``
counts it, and an editor accepts or dismisses the suggestions
(``POST /api/kb/suggestions/accept``).

A question is left out when it cannot stand for the article on its own: a
follow-up that was read together with an earlier question ("is it free?"), a
command or button payload, or a text too short or too long for an alternative
question. Suggestions are shown to editors and, once accepted, kept in the help
centre, so personal data must not reach them: with ``REDACT_SUGGESTIONS`` on
(the default) the question is kept with its e-mail addresses, phone, card and
IBAN numbers masked (``[phone]``, :mod:`webhook.domain.redaction`), unless nothing
but placeholders is left; a question that still looks personal (a link, a long
number the redactor did not recognise), or any that looks personal when redaction
is off, is left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from knowledge_base.text import normalize
from webhook.domain.redaction import without_placeholders
from webhook.domain.turns import ActionReport, SearchRecord

Kind = Literal["confirmed", "chosen", "unhelpful"]

MIN_CHARS = 3
MAX_CHARS = 500  # the editor API's limit for an alternative question
LOOK_BACK = 12  # records searched for the question that led to an answer

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_LINK = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"\d(?:[\s.\-/]?\d){5,}")  # six digits or more, spaced or not
_TRAILING = re.compile(r"[\s?؟!.،,;:]+$")


@dataclass(frozen=True)
class Evidence:
    """``question`` is a phrasing of article ``key`` (translation ``lang``), or (unhelpful) it is not."""

    key: str
    lang: str
    question: str
    kind: Kind


def question_key(text: str) -> str:
    """The form two askings of one question share: normalised, without trailing punctuation."""
    return _TRAILING.sub("", normalize(text))[:MAX_CHARS]


def personal_data(text: str) -> bool:
    """Whether the text looks like it carries personal data (normalised digits included)."""
    folded = normalize(text)
    return bool(_EMAIL.search(folded) or _LINK.search(folded) or _LONG_NUMBER.search(folded))


def usable(question: str | None) -> bool:
    """Whether a question can stand as an alternative question of its own."""
    if not question:
        return False
    text = question.strip()
    return MIN_CHARS <= len(text) <= MAX_CHARS and not text.startswith("/") and not personal_data(text)


Record = ActionReport | Mapping[str, Any]  # a report, or a stored payload read through ActionReport


def _report(record: Record) -> ActionReport:
    return record if isinstance(record, ActionReport) else ActionReport.read(record)


def evidence(turn: Record, history: Sequence[Record], redact: Callable[[str], str] | None = None) -> list[Evidence]:
    """What this bot turn says about earlier questions; ``history`` is the conversation's records.

    ``history`` may end with ``turn`` itself (the turn is stored before it is read). With
    ``redact``, a question's personal data is masked rather than the question left out.
    """
    report = _report(turn)
    records = [_report(r) for r in history]
    earlier = (records[:-1] if records and records[-1] == report else records)[-LOOK_BACK:]
    found: list[Evidence] = []
    kb = report.kb
    if kb is not None and kb.chosen:  # the customer picked one of the articles offered
        question = _offered(earlier, kb.chosen)
        lang = kb.lang_of(kb.chosen)
        if question is not None and lang:
            found.append(Evidence(kb.chosen, lang, question, "chosen"))
    verdict = report.feedback
    if verdict is not None and verdict.article:
        answered = _answer_to(earlier, verdict.article)
        if answered is not None:
            question, lang = answered
            kind: Kind = "confirmed" if verdict.helpful else "unhelpful"
            found.append(Evidence(verdict.article, lang, question, kind))
    kept = [_redacted(e, redact) for e in found] if redact is not None else found
    return [e for e in kept if e is not None and usable(e.question)]


def _redacted(found: Evidence, redact: Callable[[str], str]) -> Evidence | None:
    """The evidence with its question's personal data masked; None if nothing else is left of it."""
    question = redact(found.question)
    if question == found.question:
        return found
    if sum(c.isalpha() for c in without_placeholders(question)) < MIN_CHARS:
        return None
    return replace(found, question=question)


def _searches(records: Sequence[ActionReport]) -> list[tuple[int, SearchRecord]]:
    """The search records, most recent first, with their positions."""
    return [(i, r.kb) for i, r in reversed(list(enumerate(records))) if r.kb is not None]


def _offered(records: Sequence[ActionReport], key: str) -> str | None:
    """The question of the latest clarification that offered ``key``, if that was the latest search."""
    searches = _searches(records)
    if not searches:
        return None
    kb = searches[0][1]
    if kb.decision == "clarify" and kb.query and not kb.context and kb.lang_of(key):
        return kb.query
    return None


def _answer_to(records: Sequence[ActionReport], key: str) -> tuple[str, str] | None:
    """(question, translation) of the latest answer, if it answered with ``key``.

    An answer to a picked article goes back to the clarification's question.
    """
    searches = _searches(records)
    if not searches or searches[0][1].answered != key:
        return None
    position, kb = searches[0]
    lang = kb.lang_of(key)
    if not lang or kb.context:
        return None  # a follow-up read with an earlier question does not stand on its own
    if kb.query:
        return kb.query, lang
    if kb.chosen == key:
        question = _offered(records[:position], key)
        return (question, lang) if question is not None else None
    return None
