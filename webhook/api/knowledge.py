"""The knowledge base's search and its tuning: search, the calibration in force, recalibrating, reconciling.

Search is public: it reads only published articles, which the help-centre pages show
anyway. The rest needs the ``X-API-Key`` header to equal ``EDITOR_API_KEY``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.search import SearchResult
from webhook.api.deps import ArticlesDep, EditorKey, SettingsDep
from webhook.api.errors import raised_as
from webhook.domain.storable_text import StorableText

router = APIRouter(prefix="/api/kb", tags=["knowledge base"])


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


class ThresholdsOut(BaseModel):
    answer: float
    clarify: float
    margin: float


class WeightsOut(BaseModel):
    dense: float
    centroid: float
    lexical: float


class CalibrationOut(BaseModel):
    """The weights and thresholds in force, and the calibration record they came from (keys it lacks are left out)."""

    model_config = ConfigDict(extra="allow")  # a calibration file may carry more than we read

    thresholds: ThresholdsOut
    weights: WeightsOut
    weights_choice: dict[str, Any] | None = Field(None, description="the weight pairs tried and how they scored")
    metrics: dict[str, Any] | None = Field(None, description="how the labelled questions fared under them")
    questions: int | None = Field(None, description="how many labelled questions they were chosen on")
    source: str | None = None
    model: str | None = Field(None, description="the embedding model they were chosen for")
    calibrated_at: str | None = None


class LabelledQuestion(BaseModel):
    text: StorableText = Field(min_length=1, max_length=4000)
    expected: StorableText | None = Field(description="the key of the article that answers it, or null")
    lang: Literal["en", "fa", "ar"] | None = None


class CalibrateIn(BaseModel):
    questions: list[LabelledQuestion] = Field(min_length=5, max_length=20_000)


class ReconcileOut(BaseModel):
    changed: int = Field(description="article translations this worker's index changed")


@router.get("/search", response_model=SearchOut)
async def search(
    articles: ArticlesDep,
    q: Annotated[StorableText, Query(min_length=1, max_length=4000)],
    lang: Annotated[str | None, Query(pattern="^(en|fa|ar)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> SearchOut:
    """The decision (answer, clarify, decline) and the candidates with their scores and signals."""
    return SearchOut.of(await articles.search(q, lang, limit))


@router.get("/calibration", response_model=CalibrationOut, response_model_exclude_unset=True, dependencies=[EditorKey])
async def calibration(articles: ArticlesDep, settings: SettingsDep) -> CalibrationOut:
    """The fusion weights and thresholds in force, and how they were chosen."""
    t = articles.kb.thresholds
    current = {
        "thresholds": {"answer": t.answer, "clarify": t.clarify, "margin": t.margin},
        "weights": asdict(articles.kb.weights),
    }
    try:
        record = {**json.loads(settings.kb_calibration_file.read_text()), **current}
    except (OSError, ValueError):
        record = {**current, "source": "defaults from settings"}
    return CalibrationOut.model_validate(record)


@router.post("/calibrate", response_model=CalibrationOut, response_model_exclude_unset=True, dependencies=[EditorKey])
async def calibrate(articles: ArticlesDep, body: CalibrateIn) -> CalibrationOut:
    """Recalibrate the fusion weights and thresholds on labelled questions; they apply at once and are saved."""
    questions = [q.model_dump() for q in body.questions]
    with raised_as((ValueError, status.HTTP_422_UNPROCESSABLE_CONTENT)):
        record = await articles.calibrate(questions, "editor API")
    return CalibrationOut.model_validate(record)


@router.post("/reconcile", response_model=ReconcileOut, dependencies=[EditorKey])
async def reconcile(articles: ArticlesDep) -> ReconcileOut:
    """Bring this worker's index in line with the store now (each worker also does it every KB_RECONCILE_S)."""
    return ReconcileOut(changed=await articles.reconcile())
