"""The editor API: write, publish, archive, roll back and list help-centre articles; search.

Writing needs the ``X-API-Key`` header to equal ``EDITOR_API_KEY`` (a real editor
UI with user accounts comes later). Search is public: it reads only published
articles, which the help-centre pages show anyway.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response, status
from pydantic import AfterValidator, BaseModel, Field, field_validator

from knowledge_base.articles import KEY_MAX_LENGTH, key_problem
from knowledge_base.search import SearchResult
from webhook.domain.errors import (
    ArticleNotFound,
    JobRunning,
    NoJobRunning,
    SuggestionConflict,
    SuggestionNotFound,
    VersionNotFound,
)
from webhook.services.articles import MAX_QUESTIONS, ArticleService
from webhook.services.optimise import Optimiser
from webhook.services.optimise_board import OptimiseStatus
from webhook.store.schema import ArticleRecord, ArticleVersion, QuestionSuggestion


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


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000, description="Markdown")
    questions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default=[], max_length=MAX_QUESTIONS)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default=[], max_length=20)
    publish: bool = Field(False, description="make this version live at once")
    author: str | None = Field(None, max_length=200)

    @field_validator("title", "body")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class OptimiseIn(BaseModel):
    epochs: int | None = Field(
        default=None, ge=1, le=20, description="passes over the phrasings; default: enough for about 100 steps"
    )


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
    updated_at: datetime

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
    created_at: datetime

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
    author: str | None = Field(None, max_length=200)


class RollbackIn(ActionIn):
    version: int = Field(ge=1)


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
    first_seen_at: datetime
    last_seen_at: datetime
    decided_at: datetime | None
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
    ids: list[int] = Field(min_length=1, max_length=500, description="suggestion ids")
    author: str | None = Field(None, max_length=200)


class AcceptedOut(BaseModel):
    accepted: list[int]
    articles: list[ArticleOut] = Field(description="the translations that got a new version")


class LabelledQuestion(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    expected: str | None = Field(description="the key of the article that answers it, or null")
    lang: Literal["en", "fa", "ar"] | None = None


class CalibrateIn(BaseModel):
    questions: list[LabelledQuestion] = Field(min_length=5, max_length=20_000)


class Candidate(BaseModel):
    key: str
    lang: str
    title: str
    score: float
    signals: dict[str, float]
    matched: str


class SearchOut(BaseModel):
    query: str
    lang: str | None
    decision: Literal["answer", "clarify", "decline"]
    candidates: list[Candidate]
    elapsed_ms: float

    @classmethod
    def of(cls, r: SearchResult) -> SearchOut:
        return cls(
            query=r.query,
            lang=r.lang,
            decision=r.decision,
            elapsed_ms=round(r.elapsed_ms, 2),
            candidates=[
                Candidate(
                    key=h.key, lang=h.lang, title=h.title, score=round(h.score, 4), signals=h.signals, matched=h.matched
                )
                for h in r.hits
            ],
        )


def editor_router() -> APIRouter:
    router = APIRouter(prefix="/api/kb", tags=["knowledge base"])

    def service(request: Request) -> ArticleService:
        return request.app.state.articles

    def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
        expected = request.app.state.settings.editor_api_key
        if not expected:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the editor API is disabled: set EDITOR_API_KEY")
        if not x_api_key or not secrets.compare_digest(x_api_key, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid X-API-Key header is required",
                headers={"WWW-Authenticate": "X-API-Key"},
            )

    editor = [Depends(require_key)]

    @router.get("/search", response_model=SearchOut)
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=4000)],
        lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
        limit: Annotated[int, Query(ge=1, le=10)] = 3,
    ) -> SearchOut:
        """The decision (answer, clarify, decline) and the candidates with their scores and signals."""
        return SearchOut.of(await service(request).search(q, lang, limit))

    @router.get("/calibration", dependencies=editor)
    async def calibration(request: Request) -> dict[str, Any]:
        """The fusion weights and thresholds in force, and how they were chosen."""
        path = request.app.state.settings.kb_calibration_file
        kb = service(request).kb
        t = kb.thresholds
        current = {
            "thresholds": {"answer": t.answer, "clarify": t.clarify, "margin": t.margin},
            "weights": asdict(kb.weights),
        }
        try:
            return {**json.loads(path.read_text()), **current}
        except (OSError, ValueError):
            return {**current, "source": "defaults from settings"}

    def optimiser(request: Request) -> Optimiser:
        return request.app.state.optimiser  # type: ignore[no-any-return]

    @router.get("/optimise", dependencies=editor)
    async def optimise_status(request: Request) -> OptimiseStatus:
        """The model in use, and the state of the last optimise or revert job (with its progress)."""
        return optimiser(request).describe()

    @router.post("/optimise", status_code=status.HTTP_202_ACCEPTED, dependencies=editor)
    async def optimise(request: Request, body: OptimiseIn | None = None) -> OptimiseStatus:
        """Fine-tune the model on the published articles' phrasings in the background, then switch to it."""
        return _start(request, "optimise", (body or OptimiseIn()).epochs)

    @router.post("/optimise/revert", status_code=status.HTTP_202_ACCEPTED, dependencies=editor)
    async def revert(request: Request) -> OptimiseStatus:
        """Go back to the base model (KB_MODEL), in the background."""
        return _start(request, "revert", None)

    @router.post("/optimise/cancel", dependencies=editor)
    async def cancel_optimise(request: Request) -> OptimiseStatus:
        """Stop the running optimise or revert job; the model in use stays."""
        try:
            optimiser(request).cancel()
        except NoJobRunning as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return optimiser(request).describe()

    def _start(request: Request, kind: Literal["optimise", "revert"], epochs: int | None) -> OptimiseStatus:
        try:
            optimiser(request).start(kind, epochs)
        except JobRunning as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return optimiser(request).describe()

    @router.post("/reconcile", dependencies=editor)
    async def reconcile(request: Request) -> dict[str, int]:
        """Bring this worker's index in line with the store now (each worker also does it every KB_RECONCILE_S)."""
        return {"changed": await service(request).reconcile()}

    @router.post("/calibrate", dependencies=editor)
    async def calibrate(request: Request, body: CalibrateIn) -> dict[str, Any]:
        """Recalibrate the fusion weights and thresholds on labelled questions; they apply at once and are saved."""
        questions = [q.model_dump() for q in body.questions]
        try:
            return await service(request).calibrate(questions, "editor API")
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc

    @router.get("/suggestions", response_model=list[SuggestionOut], dependencies=editor)
    async def list_suggestions(
        request: Request,
        status_: Annotated[str, Query(alias="status", pattern="^(pending|accepted|dismissed|all)$")] = "pending",
        key: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
        lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[SuggestionOut]:
        """Customers' questions that an article answered (they said so, or picked it), best supported first."""
        rows = await service(request).suggestions(None if status_ == "all" else status_, key, lang, limit, offset)
        return [SuggestionOut.of(r) for r in rows]

    @router.post("/suggestions/accept", response_model=AcceptedOut, dependencies=editor)
    async def accept_suggestions(request: Request, body: DecideIn) -> AcceptedOut:
        """Add the questions to their articles' alternative questions (a new version each; live if it was)."""
        try:
            articles = await service(request).accept_suggestions(body.ids, body.author)
        except SuggestionNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except SuggestionConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return AcceptedOut(accepted=list(dict.fromkeys(body.ids)), articles=[ArticleOut.of(a) for a in articles])

    @router.post("/suggestions/dismiss", response_model=list[SuggestionOut], dependencies=editor)
    async def dismiss_suggestions(request: Request, body: DecideIn) -> list[SuggestionOut]:
        """Turn the suggestions down; more evidence for them later does not bring them back."""
        try:
            rows = await service(request).dismiss_suggestions(body.ids, body.author)
        except SuggestionNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except SuggestionConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return [SuggestionOut.of(r) for r in rows]

    @router.get("/articles", response_model=list[ArticleOut], dependencies=editor)
    async def list_articles(
        request: Request,
        status_: Annotated[str | None, Query(alias="status", pattern="^(draft|published|archived)$")] = None,
        lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[ArticleOut]:
        rows = await service(request).list_articles(status_, lang, q, limit, offset)
        return [ArticleOut.of(r) for r in rows]

    @router.get("/articles/{key}", response_model=list[ArticleOut], dependencies=editor)
    async def get_article(request: Request, key: Key) -> list[ArticleOut]:
        rows = await service(request).translations(key)
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no article {key!r}")
        return [ArticleOut.of(r) for r in rows]

    @router.put(
        "/articles/{key}/{lang}",
        response_model=ArticleOut,
        dependencies=editor,
        responses={201: {"description": "created"}},
    )
    async def put_article(request: Request, response: Response, key: Key, lang: Lang, body: ArticleIn) -> ArticleOut:
        """Save a new version (creating the translation when it is new); live at once with ``publish``."""
        record, created = await service(request).save(
            key,
            lang,
            title=body.title,
            body=body.body,
            questions=[q.strip() for q in body.questions],
            tags=body.tags,
            author=body.author,
            publish=body.publish,
        )
        if created:
            response.status_code = status.HTTP_201_CREATED
        return ArticleOut.of(record)

    @router.get("/articles/{key}/{lang}/versions", response_model=list[VersionOut], dependencies=editor)
    async def history(request: Request, key: Key, lang: Lang) -> list[VersionOut]:
        try:
            return [VersionOut.of(v) for v in await service(request).versions(key, lang)]
        except ArticleNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc

    @router.post("/articles/{key}/{lang}/publish", response_model=ArticleOut, dependencies=editor)
    async def publish(request: Request, key: Key, lang: Lang, body: ActionIn | None = None) -> ArticleOut:
        return await _act(service(request).publish(key, lang, body.author if body else None))

    @router.post("/articles/{key}/{lang}/archive", response_model=ArticleOut, dependencies=editor)
    async def archive(request: Request, key: Key, lang: Lang, body: ActionIn | None = None) -> ArticleOut:
        return await _act(service(request).archive(key, lang, body.author if body else None))

    @router.post("/articles/{key}/{lang}/rollback", response_model=ArticleOut, dependencies=editor)
    async def rollback(request: Request, key: Key, lang: Lang, body: RollbackIn) -> ArticleOut:
        return await _act(service(request).rollback(key, lang, body.version, body.author))

    @router.delete("/articles/{key}/{lang}", status_code=status.HTTP_204_NO_CONTENT, dependencies=editor)
    async def delete(request: Request, key: Key, lang: Lang) -> Response:
        try:
            await service(request).remove(key, lang)
        except ArticleNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    async def _act(change) -> ArticleOut:  # type: ignore[no-untyped-def]
        try:
            return ArticleOut.of(await change)
        except (ArticleNotFound, VersionNotFound) as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc

    return router
