"""The FastAPI application: wiring only. Each router lives in its own module."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State

from actions import context as action_context
from knowledge_base.articles import ArticleSet, load_markdown_dir
from knowledge_base.calibration import load_thresholds, load_weights
from knowledge_base.search import KnowledgeBase, Thresholds
from webhook.api import (
    agent_conversations,
    agent_socket,
    articles,
    audit,
    customers,
    health,
    knowledge,
    optimise,
    sign_in,
    suggestions,
)
from webhook.api import metrics as metrics_api
from webhook.api.errors import install_error_handlers
from webhook.api.hardening import CookieOriginCheck, SecurityHeaders, WidgetCors
from webhook.api.rate_limits import install_rate_limits
from webhook.channels import rasa_actions, telegram, web
from webhook.domain.business_hours import BusinessHours
from webhook.domain.handoff import HandoffRules
from webhook.domain.policy import ConversationPolicy
from webhook.domain.redaction import Redactor
from webhook.listeners.deflections import DeflectionLog
from webhook.listeners.question_learning import QuestionLearning
from webhook.pages import audit as audit_page
from webhook.pages import console, docs
from webhook.pages import help as help_pages
from webhook.pages import metrics as metrics_page
from webhook.pages.deps import PAGES, build_templates
from webhook.runtime import log_hygiene
from webhook.runtime.events import EventBus, create_bus
from webhook.runtime.log_redaction import redact_logs
from webhook.runtime.rasa_client import RasaClient
from webhook.services.agents import AgentService
from webhook.services.articles import ArticleService
from webhook.services.conversations import ConversationService
from webhook.services.customer_data import CustomerData
from webhook.services.handoff import Desk
from webhook.services.optimise import Optimiser
from webhook.services.optimise_models import active_model, serving_embedder
from webhook.services.retention import Retention
from webhook.settings import Settings, get_settings
from webhook.store import articles as article_store
from webhook.store.database import Database, migrate

log = logging.getLogger(__name__)


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


async def _answer_unanswered(rasa: RasaClient, conversations: ConversationService, started: datetime) -> None:
    """Once Rasa is up, answer what was stored but not answered before the last stop.

    Only messages stored before this process ``started``: a later one is being answered by its own turn.
    """
    for _ in range(300):
        if await rasa.ready():
            answered = await conversations.answer_unanswered(before=started)
            if answered:
                log.info("recovery: answered %d message(s) left unanswered by the last run", answered)
            return
        await asyncio.sleep(2)
    log.warning("recovery: Rasa did not come up; unanswered messages stay for the next start")


def build_redactor(settings: Settings) -> Redactor:
    """The one redactor, from REDACT_PHONE_REGIONS and REDACT_PATTERNS: a bad pattern stops the start, named."""
    return Redactor(settings.redact_phone_regions, settings.redact_patterns)


def conversation_service(
    settings: Settings,
    db: Database,
    rasa: RasaClient,
    bus: EventBus,
    kb: KnowledgeBase,
    redactor: Redactor | None = None,
) -> ConversationService:
    """The conversation service with its policy, its desk, and the listeners that run after each bot turn."""
    redactor = redactor or build_redactor(settings)
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
        rasa_redactor=redactor if settings.redact_rasa else None,
    )
    service.listen(DeflectionLog(settings.deflection_window_h))
    if settings.kb_learn_questions:
        service.listen(QuestionLearning(redactor if settings.redact_suggestions else None))
    return service


def _build_services(state: State, settings: Settings) -> None:
    """The services over the parts already on ``state`` (database, knowledge base, Rasa client, bus)."""
    db, kb, bus = state.db, state.knowledge_base, state.bus
    state.conversations = conversation_service(settings, db, state.rasa, bus, kb, state.redactor)
    state.agents = AgentService(state.conversations, settings.agent_online_window_s)
    state.articles = ArticleService(
        db,
        kb,
        settings.kb_index_dir,
        bus=bus,
        reconcile_s=settings.kb_reconcile_s,
        calibration_file=settings.kb_calibration_file,
    )
    state.optimiser = Optimiser(kb, settings, bus, state.articles.origin)
    state.articles.on_model_change = state.optimiser.follow
    state.customer_data = CustomerData(db, settings.rasa_tracker_db, bus=state.bus)
    state.retention = Retention(db, settings.rasa_tracker_db, settings.retention_days)


async def _start(state: State, settings: Settings) -> None:
    """Migrate the database, load the knowledge base, connect Rasa and the bus, then start the services and channels."""
    await asyncio.to_thread(migrate, settings.database_url)
    state.db = Database(settings.database_url)
    state.knowledge_base = await load_knowledge_base(settings, state.db)
    link_base = settings.public_url or f"http://{settings.host}:{settings.port}"
    action_context.configure(
        action_context.ActionContext(state.knowledge_base, link_base, max_text_chars=settings.max_message_chars)
    )
    state.rasa = RasaClient(settings.rasa_url, settings.rasa_token, settings.rasa_timeout_s)
    state.bus = create_bus(settings.redis_url)
    await state.bus.start()
    _build_services(state, settings)
    await state.articles.start()
    await state.retention.start()  # daily, when RETENTION_DAYS is set
    state.telegram = None
    if settings.telegram_bot_token:
        state.telegram = telegram.TelegramChannel(settings, state.conversations, state.db)
        await state.telegram.start()


async def _stop(state: State) -> None:
    """Stop in the reverse order: channels, services, then the connections."""
    if state.telegram is not None:
        await state.telegram.stop()
    await state.retention.stop()
    await state.optimiser.close()
    await state.articles.stop()
    action_context.configure(None)
    await state.rasa.close()
    await state.bus.close()
    await state.abuse_limits.close()
    await state.db.dispose()


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = datetime.now(UTC)
        log_hygiene.install()  # again: a logging configuration applied since create_app replaces handlers
        await _start(app.state, settings)
        recovery = asyncio.create_task(
            _answer_unanswered(app.state.rasa, app.state.conversations, started), name="recovery"
        )
        try:
            yield
        finally:
            recovery.cancel()
            await _stop(app.state)

    return lifespan


ROUTERS = (
    web.router,
    telegram.router,
    help_pages.router,
    knowledge.router,
    optimise.router,
    suggestions.router,
    articles.router,
    sign_in.router,
    agent_conversations.router,
    agent_socket.router,
    metrics_api.router,
    metrics_page.router,
    customers.router,
    audit.router,
    audit_page.router,
    console.router,
    rasa_actions.router,
    health.router,
    docs.router,
)


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # The widget runs on other sites: CORS on its routes only (no cookies are involved).
    app.add_middleware(WidgetCors, allowed_origins=settings.widget_allowed_origins)
    # Writes signed by the console's cookie must come from our own pages (CSRF).
    app.add_middleware(CookieOriginCheck, public_url=settings.public_url)
    # Outermost, so that every answer carries the security headers, refusals included.
    app.add_middleware(SecurityHeaders, public_url=settings.public_url)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app: routers, middleware, static files and error handlers now; the services start with its lifespan."""
    settings = settings or get_settings()
    log_hygiene.install()  # no query string (an agent's token) in any log line, uvicorn's or ours
    app = FastAPI(
        title="Larkspur self-service support",
        description="Customer chat, the Rasa action endpoint and the help centre.",
        version="0.1.0",
        lifespan=_lifespan(settings),
        docs_url=None,  # served from our own files by webhook.pages.docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.redactor = build_redactor(settings)  # personal data masked in logs, metrics, suggestions, Rasa
    redact_logs(app.state.redactor if settings.redact_logs else None)  # a transform of the log filter
    app.state.templates = build_templates()
    app.state.action_executor = rasa_actions.build_executor()
    install_rate_limits(app, settings)  # inside the CORS middleware: a 429 carries its headers
    _add_middleware(app, settings)
    app.mount("/static", StaticFiles(directory=PAGES / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    return app
