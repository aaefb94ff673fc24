"""Health for load balancers and orchestrators.

- ``GET /health/live``: the process is up and serving (a restart is the cure when it is not).
- ``GET /health/ready``: whether this worker can serve customers now: the database, Redis (when
  ``REDIS_URL`` is set), Rasa and the knowledge-base index, each with a reason when it is not;
  503 when any is not, so a load balancer sends traffic elsewhere. Each check has a short time limit.
- ``GET /health``: the older summary (articles, whether Rasa answers), kept for ``run.sh`` and scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from webhook.api.deps import DatabaseDep, KnowledgeBaseDep, RasaDep, SettingsDep

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0


class HealthOut(BaseModel):
    status: Literal["ok"]
    articles: int = Field(description="article translations in the knowledge base")
    rasa: bool = Field(description="whether Rasa answers with a loaded model")


class LiveOut(BaseModel):
    status: Literal["ok"]


CheckName = Literal["database", "redis", "rasa", "index"]


class CheckOut(BaseModel):
    name: CheckName
    ok: bool
    reason: str | None = Field(None, description="why it is not ready")


class ReadyOut(BaseModel):
    ready: bool
    checks: list[CheckOut]


@router.get("/health", response_model=HealthOut)
async def health(kb: KnowledgeBaseDep, rasa: RasaDep) -> HealthOut:
    """Ready once the knowledge base is loaded; says whether Rasa answers."""
    return HealthOut(status="ok", articles=len(kb.articles), rasa=await rasa.ready())


@router.get("/health/live", response_model=LiveOut)
async def live() -> LiveOut:
    """The process is up and its event loop answers."""
    return LiveOut(status="ok")


async def _check(name: CheckName, probe: Awaitable[bool], failure: str) -> CheckOut:
    try:
        ok = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except TimeoutError:
        return CheckOut(name=name, ok=False, reason=f"no answer within {CHECK_TIMEOUT_S:.0f} s")
    except Exception as exc:  # a failed probe is the answer, not an error of this route
        return CheckOut(name=name, ok=False, reason=f"{failure}: {type(exc).__name__}")
    return CheckOut(name=name, ok=ok, reason=None if ok else failure)


@router.get("/health/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def ready(
    connection: HTTPConnection, db: DatabaseDep, kb: KnowledgeBaseDep, rasa: RasaDep, settings: SettingsDep
) -> ReadyOut | JSONResponse:
    """Whether this worker can serve customers now; 503 with the reasons when it cannot."""

    async def database() -> bool:
        async with db.session() as session:
            return (await session.execute(text("SELECT 1"))).scalar() == 1

    async def index() -> bool:
        return len(kb.articles) > 0

    probes = [
        _check("database", database(), "the database does not answer"),
        _check("rasa", rasa.ready(), "Rasa does not answer with a loaded model"),
        _check("index", index(), "the knowledge base has no articles"),
    ]
    if settings.redis_url:
        probes.append(_check("redis", connection.app.state.bus.reachable(), "Redis does not answer"))
    checks = list(await asyncio.gather(*probes))
    out = ReadyOut(ready=all(c.ok for c in checks), checks=checks)
    return out if out.ready else JSONResponse(out.model_dump(), status_code=503)
