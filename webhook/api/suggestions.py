"""The editor API's suggested questions: customers' questions that an article answered, to accept or dismiss.

Every route needs the ``X-API-Key`` header to equal ``EDITOR_API_KEY``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from knowledge_base.articles import KEY_MAX_LENGTH
from webhook.api.articles import ArticleOut, StoredTime
from webhook.api.deps import ArticlesDep, EditorKey
from webhook.api.errors import raised_as
from webhook.domain.errors import SuggestionConflict, SuggestionNotFound
from webhook.domain.storable_text import StorableText
from webhook.domain.stored_numbers import MAX_STORED_INT
from webhook.store.schema import QuestionSuggestion

router = APIRouter(prefix="/api/kb/suggestions", tags=["knowledge base"], dependencies=[EditorKey])

# Unknown ids are 404; suggestions already decided (or whose article is gone) are 409.
DECISION_ERRORS = (
    (SuggestionNotFound, status.HTTP_404_NOT_FOUND),
    (SuggestionConflict, status.HTTP_409_CONFLICT),
)


class SuggestionOut(BaseModel):
    id: int
    key: str
    lang: str
    text: str
    status: Literal["pending", "accepted", "dismissed"]
    confirmed: int = Field(description="conversations where the customer said the answer helped")
    chosen: int = Field(description="conversations where the customer picked this article from those offered")
    unhelpful: int = Field(description="conversations where the customer said this answer did not help")
    support: int = Field(description="confirmed + chosen - unhelpful: the order of the list")
    conversations: list[str] = Field(description="the most recent conversations that gave this evidence")
    first_seen_at: StoredTime
    last_seen_at: StoredTime
    decided_at: StoredTime | None
    decided_by: str | None

    @classmethod
    def of(cls, r: QuestionSuggestion) -> SuggestionOut:
        return cls(
            id=r.id,
            key=r.key,
            lang=r.lang,
            text=r.text,
            status=r.status,  # type: ignore[arg-type]
            confirmed=r.confirmed,
            chosen=r.chosen,
            unhelpful=r.unhelpful,
            support=r.support,
            conversations=list(dict.fromkeys(str(c) for c, _ in reversed(r.evidence or []))),
            first_seen_at=r.first_seen_at,
            last_seen_at=r.last_seen_at,
            decided_at=r.decided_at,
            decided_by=r.decided_by,
        )


class DecideIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=MAX_STORED_INT)]] = Field(
        min_length=1, max_length=500, description="suggestion ids"
    )
    author: StorableText | None = Field(None, max_length=200)


class AcceptedOut(BaseModel):
    accepted: list[int]
    articles: list[ArticleOut] = Field(description="the translations that got a new version")


@router.get("", response_model=list[SuggestionOut])
async def list_suggestions(
    articles: ArticlesDep,
    status_: Annotated[str, Query(alias="status", pattern="^(pending|accepted|dismissed|all)$")] = "pending",
    key: Annotated[StorableText | None, Query(max_length=KEY_MAX_LENGTH)] = None,
    lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_STORED_INT)] = 0,
) -> list[SuggestionOut]:
    """Customers' questions that an article answered (they said so, or picked it), best supported first."""
    rows = await articles.suggestions(None if status_ == "all" else status_, key, lang, limit, offset)
    return [SuggestionOut.of(r) for r in rows]


@router.post("/accept", response_model=AcceptedOut)
async def accept_suggestions(articles: ArticlesDep, body: DecideIn) -> AcceptedOut:
    """Add the questions to their articles' alternative questions (a new version each; live if it was)."""
    with raised_as(*DECISION_ERRORS):
        changed = await articles.accept_suggestions(body.ids, body.author)
    return AcceptedOut(accepted=list(dict.fromkeys(body.ids)), articles=[ArticleOut.of(a) for a in changed])


@router.post("/dismiss", response_model=list[SuggestionOut])
async def dismiss_suggestions(articles: ArticlesDep, body: DecideIn) -> list[SuggestionOut]:
    """Turn the suggestions down; more evidence for them later does not bring them back."""
    with raised_as(*DECISION_ERRORS):
        rows = await articles.dismiss_suggestions(body.ids, body.author)
    return [SuggestionOut.of(r) for r in rows]
