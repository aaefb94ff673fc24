"""Public help-centre pages: the links the bot sends point here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from webhook.api.deps import KnowledgeBaseDep
from webhook.pages.deps import TemplatesDep

router = APIRouter(tags=["help centre"])


@router.get("/help", response_class=HTMLResponse)
async def index(
    request: Request,
    kb: KnowledgeBaseDep,
    templates: TemplatesDep,
    lang: str = Query("en", pattern="^(en|fa|ar)$"),
) -> HTMLResponse:
    articles = [kb.article(key, lang) for key in sorted(kb.articles.by_key)]
    return templates.TemplateResponse(request, "help_index.html", {"articles": articles, "lang": lang})


@router.get("/help/{key}", response_class=HTMLResponse)
async def article(
    request: Request,
    key: str,
    kb: KnowledgeBaseDep,
    templates: TemplatesDep,
    lang: str = Query("en", pattern="^(en|fa|ar)$"),
) -> HTMLResponse:
    found = kb.article(key, lang)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no article {key!r}")
    return templates.TemplateResponse(request, "help_article.html", {"article": found})
