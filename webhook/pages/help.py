"""Public help-centre pages: the links the bot sends point here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from knowledge_base.search import KnowledgeBase


def help_router(templates) -> APIRouter:  # type: ignore[no-untyped-def]
    router = APIRouter(tags=["help centre"])

    def kb(request: Request) -> KnowledgeBase:
        return request.app.state.knowledge_base

    @router.get("/help", response_class=HTMLResponse)
    async def index(request: Request, lang: str = Query("en", pattern="^(en|fa|ar)$")) -> HTMLResponse:
        base = kb(request)
        articles = [base.article(key, lang) for key in sorted(base.articles.by_key)]
        return templates.TemplateResponse(request, "help_index.html", {"articles": articles, "lang": lang})

    @router.get("/help/{key}", response_class=HTMLResponse)
    async def article(request: Request, key: str, lang: str = Query("en", pattern="^(en|fa|ar)$")) -> HTMLResponse:
        found = kb(request).article(key, lang)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no article {key!r}")
        return templates.TemplateResponse(request, "help_article.html", {"article": found})

    return router
