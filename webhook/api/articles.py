"""The editor API's articles: write, publish, archive, roll back, list and remove help-centre translations.

Every route needs the ``X-API-Key`` header to equal ``EDITOR_API_KEY`` (a real
editor UI with user accounts comes later).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AfterValidator, BaseModel, Field, field_validator

from knowledge_base.articles import KEY_MAX_LENGTH, key_problem
from webhook.api.deps import ArticlesDep, EditorKey, PageUser
from webhook.api.errors import raised_as
from webhook.domain.errors import ArticleNotFound, VersionNotFound
from webhook.domain.storable_text import StorableText
from webhook.domain.stored_numbers import MAX_STORED_INT
from webhook.services.articles import MAX_QUESTIONS
from webhook.store.schema import ArticleRecord, ArticleVersion

# A change to a translation or version that does not exist.
MISSING = ((ArticleNotFound, VersionNotFound), status.HTTP_404_NOT_FOUND)

router = APIRouter(prefix="/api/kb/articles", tags=["knowledge base"], dependencies=[EditorKey])


def _checked_key(key: str) -> str:
    """The same rule as the importers (``key_problem``), so every imported article can be edited."""
    problem = key_problem(key)
    if problem:
        raise ValueError(f"the article key {problem}")
    return key


Key = Annotated[
    str,
    Path(max_length=KEY_MAX_LENGTH, description="stable article key (no spaces, '/', '\\' or '..')"),
    AfterValidator(_checked_key),
]
Lang = Annotated[str, Path(pattern="^(en|fa|ar)$")]


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; everything stored is UTC, and the schema promises an offset."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


StoredTime = Annotated[datetime, AfterValidator(_utc)]


class ArticleIn(BaseModel):
    title: StorableText = Field(min_length=1, max_length=300)
    body: StorableText = Field(min_length=1, max_length=20_000, description="Markdown")
    questions: list[Annotated[StorableText, Field(min_length=1, max_length=500)]] = Field(
        default=[], max_length=MAX_QUESTIONS
    )
    tags: list[Annotated[StorableText, Field(min_length=1, max_length=50)]] = Field(default=[], max_length=20)
    publish: bool = Field(False, description="make this version live at once")
    author: StorableText | None = Field(None, max_length=200)

    @field_validator("title", "body")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ArticleOut(BaseModel):
    key: str
    lang: str
    title: str
    body: str
    questions: list[str]
    tags: list[str]
    status: Literal["draft", "published", "archived"]
    version: int
    published_version: int | None
    author: str | None
    updated_at: StoredTime

    @classmethod
    def of(cls, r: ArticleRecord) -> ArticleOut:
        return cls(
            key=r.key,
            lang=r.lang,
            title=r.title,
            body=r.body,
            questions=list(r.questions or []),
            tags=list(r.tags or []),
            status=r.status,  # type: ignore[arg-type]
            version=r.version,  # type: ignore[arg-type]
            published_version=r.published_version,
            author=r.author,
            updated_at=r.updated_at,
        )


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    questions: list[str]
    tags: list[str]
    author: str | None
    note: str | None
    created_at: StoredTime

    @classmethod
    def of(cls, v: ArticleVersion) -> VersionOut:
        return cls(
            version=v.version,
            title=v.title,
            body=v.body,
            questions=list(v.questions or []),
            tags=list(v.tags or []),
            author=v.author,
            note=v.note,
            created_at=v.created_at,
        )


class ActionIn(BaseModel):
    author: StorableText | None = Field(None, max_length=200)


class RollbackIn(ActionIn):
    version: int = Field(ge=1, le=MAX_STORED_INT)


@router.get("", response_model=list[ArticleOut])
async def list_articles(
    articles: ArticlesDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(draft|published|archived)$")] = None,
    lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
    q: Annotated[StorableText | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_STORED_INT)] = 0,
) -> list[ArticleOut]:
    rows = await articles.list_articles(status_, lang, q, limit, offset)
    return [ArticleOut.of(r) for r in rows]


@router.get("/{key}", response_model=list[ArticleOut])
async def get_article(articles: ArticlesDep, key: Key) -> list[ArticleOut]:
    rows = await articles.translations(key)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no article {key!r}")
    return [ArticleOut.of(r) for r in rows]


@router.put("/{key}/{lang}", response_model=ArticleOut, responses={201: {"description": "created"}})
async def put_article(
    articles: ArticlesDep, response: Response, key: Key, lang: Lang, body: ArticleIn, user: PageUser
) -> ArticleOut:
    """Save a new version (creating the translation when it is new); live at once with ``publish``."""
    record, created = await articles.save(
        key,
        lang,
        title=body.title,
        body=body.body,
        questions=[q.strip() for q in body.questions],
        tags=body.tags,
        author=body.author,
        publish=body.publish,
        actor=user,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return ArticleOut.of(record)


@router.get("/{key}/{lang}/versions", response_model=list[VersionOut])
async def history(articles: ArticlesDep, key: Key, lang: Lang) -> list[VersionOut]:
    with raised_as((ArticleNotFound, status.HTTP_404_NOT_FOUND)):
        return [VersionOut.of(v) for v in await articles.versions(key, lang)]


@router.post("/{key}/{lang}/publish", response_model=ArticleOut)
async def publish(
    articles: ArticlesDep, key: Key, lang: Lang, user: PageUser, body: ActionIn | None = None
) -> ArticleOut:
    """Make the latest version live (recorded in the audit log: the signed-in user, else ``api-key``)."""
    with raised_as(MISSING):
        return ArticleOut.of(await articles.publish(key, lang, body.author if body else None, actor=user))


@router.post("/{key}/{lang}/archive", response_model=ArticleOut)
async def archive(articles: ArticlesDep, key: Key, lang: Lang, body: ActionIn | None = None) -> ArticleOut:
    with raised_as(MISSING):
        return ArticleOut.of(await articles.archive(key, lang, body.author if body else None))


@router.post("/{key}/{lang}/rollback", response_model=ArticleOut)
async def rollback(articles: ArticlesDep, key: Key, lang: Lang, body: RollbackIn, user: PageUser) -> ArticleOut:
    """Make an earlier version live again, as a new version (recorded in the audit log)."""
    with raised_as(MISSING):
        return ArticleOut.of(await articles.rollback(key, lang, body.version, body.author, actor=user))


@router.delete("/{key}/{lang}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(articles: ArticlesDep, key: Key, lang: Lang) -> Response:
    with raised_as((ArticleNotFound, status.HTTP_404_NOT_FOUND)):
        await articles.remove(key, lang)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
