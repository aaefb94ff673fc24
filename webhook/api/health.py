"""``GET /health``: whether the service is up, and whether Rasa answers (for load balancers and run.sh)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from webhook.api.deps import KnowledgeBaseDep, RasaDep

router = APIRouter(tags=["operations"])


class HealthOut(BaseModel):
    status: Literal["ok"]
    articles: int = Field(description="article translations in the knowledge base")
    rasa: bool = Field(description="whether Rasa answers with a loaded model")


@router.get("/health", response_model=HealthOut)
async def health(kb: KnowledgeBaseDep, rasa: RasaDep) -> HealthOut:
    """Ready once the knowledge base is loaded; says whether Rasa answers."""
    return HealthOut(status="ok", articles=len(kb.articles), rasa=await rasa.ready())
