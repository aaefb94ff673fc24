"""The FastAPI application: wiring only. Each router lives in its own module."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from starlette.exceptions import HTTPException as StarletteHTTPException

from actions import context as action_context
from knowledge_base.articles import ArticleSet, load_markdown_dir
from knowledge_base.calibration import load_thresholds, load_weights
from knowledge_base.search import KnowledgeBase, Thresholds
from webhook.api.agent_conversations import agent_conversations_router, agent_socket
from webhook.api.articles import editor_router
from webhook.api.metrics import metrics_router
from webhook.api.sign_in import agent_router
from webhook.channels import rasa_actions, telegram, web
from webhook.domain.business_hours import BusinessHours
from webhook.domain.handoff import HandoffRules
from webhook.domain.policy import ConversationPolicy
from webhook.listeners.deflections import DeflectionLog
from webhook.listeners.question_learning import QuestionLearning
from webhook.pages.console import agent_console_router
from webhook.pages.help import help_router
from webhook.runtime.events import EventBus, create_bus
from webhook.runtime.rasa_client import RasaClient
from webhook.services.agents import AgentService
from webhook.services.articles import ArticleService
from webhook.services.conversations import ConversationService
from webhook.services.handoff import Desk
from webhook.services.optimise import Optimiser
from webhook.services.optimise_models import active_model, serving_embedder
from webhook.settings import Settings, get_settings
from webhook.store import articles as article_store
from webhook.store.database import Database, migrate

log = logging.getLogger(__name__)
PAGES = Path(__file__).resolve().parent / "pages"


async def seed_articles(settings: Settings, db: Database) -> ArticleSet:
    """The published articles; an empty database is first seeded from KB_ARTICLES_DIR."""
    async with db.session() as session:
        articles = await article_store.published_articles(session)
        if len(articles) == 0 and settings.kb_articles_dir.is_dir():
            await article_store.import_articles(session, load_markdown_dir(settings.kb_articles_dir))
            await session.commit()
            articles = await article_store.published_articles(session)
    return articles


async def load_knowledge_base(settings: Settings, db: Database, progress: bool = False) -> KnowledgeBase:
    """Load the embedding model, and the index when its stamp matches the articles (else rebuild)."""
    embedder = await asyncio.to_thread(serving_embedder, active_model(settings), settings)
    thresholds = load_thresholds(settings.kb_calibration_file) or Thresholds(
        settings.kb_answer_threshold, settings.kb_clarify_threshold, settings.kb_margin
    )
    kb = KnowledgeBase(embedder, thresholds, load_weights(settings.kb_calibration_file))
    articles = await seed_articles(settings, db)
    rebuilt = await asyncio.to_thread(kb.load, articles, settings.kb_index_dir, progress)
    log.info("knowledge base: %d article translations, index %s", len(articles), "rebuilt" if rebuilt else "loaded")
    return kb


async def _answer_unanswered(rasa: RasaClient, conversations: ConversationService) -> None:
    """Once Rasa is up, answer what was stored but not answered before the last stop."""
    for _ in range(300):
        if await rasa.ready():
            answered = await conversations.answer_unanswered()
            if answered:
                log.info("recovery: answered %d message(s) left unanswered by the last run", answered)
            return
        await asyncio.sleep(2)
    log.warning("recovery: Rasa did not come up; unanswered messages stay for the next start")


def conversation_service(
    settings: Settings, db: Database, rasa: RasaClient, bus: EventBus, kb: KnowledgeBase
) -> ConversationService:
    """The conversation service with its policy, its desk, and the listeners that run after each bot turn."""
    policy = ConversationPolicy(
        max_chars=settings.max_message_chars,
        default_language=settings.default_language,
        rules=HandoffRules(
            settings.handoff_after_declines,
            settings.handoff_after_not_helpful,
            settings.handoff_frustration_threshold,
        ),
        csat_enabled=settings.csat_enabled,
        csat_questions={
            "en": settings.csat_question_en,
            "fa": settings.csat_question_fa,
            "ar": settings.csat_question_ar,
        },
        link_ttl_s=settings.link_code_ttl_s,
    )
    hours = BusinessHours(settings.business_hours, settings.business_timezone)
    service = ConversationService(
        db,
        rasa,
        policy,
        bus=bus,
        desk=Desk(hours, settings.agent_online_window_s),
        article_title=lambda key, lang: getattr(kb.article(key, lang), "title", None),
    )
    service.listen(DeflectionLog(settings.deflection_window_h))
    if settings.kb_learn_questions:
        service.listen(QuestionLearning())
    return service


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=PAGES / "templates")
    markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
    templates.env.filters["markdown"] = markdown.render
    return templates


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.database_url)
        db = Database(settings.database_url)
        kb = await load_knowledge_base(settings, db)
        link_base = settings.public_url or f"http://{settings.host}:{settings.port}"
        action_context.configure(action_context.ActionContext(kb, link_base))
        rasa = RasaClient(settings.rasa_url, settings.rasa_token, settings.rasa_timeout_s)
        bus = create_bus(settings.redis_url)
        await bus.start()
        app.state.settings = settings
        app.state.db = db
        app.state.knowledge_base = kb
        app.state.rasa = rasa
        app.state.bus = bus
        app.state.conversations = conversation_service(settings, db, rasa, bus, kb)
        app.state.agents = AgentService(app.state.conversations, settings.agent_online_window_s)
        app.state.articles = ArticleService(
            db,
            kb,
            settings.kb_index_dir,
            bus=bus,
            reconcile_s=settings.kb_reconcile_s,
            calibration_file=settings.kb_calibration_file,
        )
        app.state.optimiser = Optimiser(kb, settings, bus, app.state.articles.origin)
        app.state.articles.on_model_change = app.state.optimiser.follow
        await app.state.articles.start()
        app.state.telegram = None
        if settings.telegram_bot_token:
            app.state.telegram = telegram.TelegramChannel(settings, app.state.conversations, db)
            await app.state.telegram.start()
        recovery = asyncio.create_task(_answer_unanswered(rasa, app.state.conversations), name="recovery")
        try:
            yield
        finally:
            recovery.cancel()
            if app.state.telegram is not None:
                await app.state.telegram.stop()
            await app.state.optimiser.close()
            await app.state.articles.stop()
            action_context.configure(None)
            await rasa.close()
            await bus.close()
            await db.dispose()

    app = FastAPI(
        title="Larkspur self-service support",
        description="Customer chat, the Rasa action endpoint and the help centre.",
        version="0.1.0",
        lifespan=lifespan,
    )
    templates = _templates()
    # The widget runs on other sites: its REST calls are cross-origin (no cookies are involved).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.widget_allowed_origins.split(",") if o.strip()],
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
    )
    app.mount("/static", StaticFiles(directory=PAGES / "static"), name="static")
    app.state.templates = templates
    app.include_router(web.router)
    app.include_router(telegram.router)
    app.include_router(help_router(templates))
    app.include_router(editor_router())
    app.include_router(agent_router())
    app.include_router(agent_conversations_router())
    app.add_api_websocket_route("/ws/agent", agent_socket)
    app.include_router(metrics_router(templates))
    app.include_router(agent_console_router(templates))
    app.state.action_executor = rasa_actions.build_executor()
    app.include_router(rasa_actions.router)

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> dict[str, object]:
        """Ready once the knowledge base is loaded; says whether Rasa answers."""
        state = request.app.state
        return {
            "status": "ok",
            "articles": len(state.knowledge_base.articles),
            "rasa": await state.rasa.ready(),
        }

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """API errors share one shape: {"error": code, "detail": text}. Pages keep the default."""
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)  # type: ignore[return-value]
        if exc.status_code == 400 and "json" in request.headers.get("content-type", ""):
            # FastAPI's "error parsing the body": the bytes are not UTF-8
            return JSONResponse({"error": "malformed_json", "detail": "the body is not valid UTF-8 JSON"}, 400)
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        return JSONResponse({"error": code, "detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"error": "malformed_json", "detail": "the body is not valid JSON"}, status_code=400)
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg")}
            for e in errors
        ]
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)

    return app
