"""Questions learnt from conversations, counted until an editor accepts or dismisses them.

``webhook/domain/learning.py`` says which question is evidence for which article; this
module keeps one row per article translation and question (in its normalised
form), counts each conversation once per kind of evidence, and leaves out what the
article already says (its title and alternative questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import SuggestionStatus
from webhook.domain.errors import SuggestionNotFound
from webhook.domain.learning import Evidence, question_key
from webhook.store.schema import ArticleRecord, QuestionSuggestion

EVIDENCE_KEPT = 30  # the most recent [conversation id, kind] pairs kept on a suggestion


def _now() -> datetime:
    return datetime.now(UTC)


def phrasings(record: ArticleRecord) -> set[str]:
    """What the translation already answers to, in the form suggestions are compared in."""
    return {question_key(t) for t in [record.title, *(record.questions or [])]}


async def record(session: AsyncSession, found: Evidence, conversation_id: str) -> QuestionSuggestion | None:
    """Count ``found``; None when the article no longer exists or already has the phrasing.

    "Unhelpful" evidence only counts against a suggestion that exists: it never creates one.
    """
    article = await session.scalar(
        select(ArticleRecord).where(ArticleRecord.key == found.key, ArticleRecord.lang == found.lang)
    )
    normalized = question_key(found.question)
    if article is None or not normalized or normalized in phrasings(article):
        return None
    statement = select(QuestionSuggestion).where(
        QuestionSuggestion.key == found.key,
        QuestionSuggestion.lang == found.lang,
        QuestionSuggestion.normalized == normalized,
    )
    row = await session.scalar(statement)
    if row is None:
        if found.kind == "unhelpful":
            return None
        row = QuestionSuggestion(
            key=found.key,
            lang=found.lang,
            text=found.question.strip(),
            normalized=normalized,
            status=SuggestionStatus.PENDING,
            confirmed=0,
            chosen=0,
            unhelpful=0,
            evidence=[],
        )
        try:
            async with session.begin_nested():  # another worker may have just added the same question
                session.add(row)
                await session.flush()
        except IntegrityError:
            row = await session.scalar(statement)
            if row is None:
                raise
    pair = [conversation_id, found.kind]
    if pair in (row.evidence or []):
        return row  # this conversation said so before
    setattr(row, found.kind, getattr(row, found.kind) + 1)
    row.evidence = [*(row.evidence or []), pair][-EVIDENCE_KEPT:]
    row.last_seen_at = _now()
    await session.flush()
    return row


async def list_suggestions(
    session: AsyncSession,
    status: str | None = SuggestionStatus.PENDING,
    key: str | None = None,
    lang: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[QuestionSuggestion]:
    """The suggestions, the best supported first, then the most recent."""
    statement = select(QuestionSuggestion)
    if status:
        statement = statement.where(QuestionSuggestion.status == status)
    if key:
        statement = statement.where(QuestionSuggestion.key == key)
    if lang:
        statement = statement.where(QuestionSuggestion.lang == lang)
    statement = statement.order_by(
        QuestionSuggestion.support.desc(), QuestionSuggestion.last_seen_at.desc(), QuestionSuggestion.id.desc()
    )
    return list(await session.scalars(statement.limit(limit).offset(offset)))


async def get_many(session: AsyncSession, ids: Sequence[int]) -> list[QuestionSuggestion]:
    """The suggestions ``ids``, in that order; SuggestionNotFound names any that do not exist."""
    rows = {r.id: r for r in await session.scalars(select(QuestionSuggestion).where(QuestionSuggestion.id.in_(ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise SuggestionNotFound(f"no suggestion {', '.join(map(str, missing))}")
    return [rows[i] for i in ids]


def decide(rows: Sequence[QuestionSuggestion], status: SuggestionStatus, editor: str | None) -> None:
    now = _now()
    for row in rows:
        row.status = status
        row.decided_at = now
        row.decided_by = editor
