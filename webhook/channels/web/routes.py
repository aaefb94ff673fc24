"""The website channel's HTTP side: the demo page, the REST fallback of the widget, and Telegram links."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from webhook.channels.deps import conversation_service, telegram_username, templates
from webhook.channels.web.limits import ChatGuardDep
from webhook.channels.web.schemas import (
    SESSION_PATTERN,
    Button,
    ChatRequest,
    ChatResponse,
    HistoryMessage,
    HistoryResponse,
    LinkRequest,
    LinkResponse,
    Reply,
)
from webhook.domain import identity
from webhook.domain.enums import Channel
from webhook.domain.errors import BotUnavailable, MessageRejected
from webhook.domain.messages import InboundMessage
from webhook.services.conversations import ConversationService

router = APIRouter(tags=["web chat"])

Conversations = Annotated[ConversationService, Depends(conversation_service)]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(request: Request, pages: Annotated[Jinja2Templates, Depends(templates)]) -> HTMLResponse:
    """The demo page with the widget on it."""
    return pages.TemplateResponse(request, "chat.html", {})


@router.post(
    "/api/chat",
    response_model=ChatResponse,
    responses={
        422: {"description": "Invalid message"},
        429: {"description": "Over a rate limit, not stored: send it again after Retry-After"},
        503: {"description": "Stored, but the bot is down"},
    },
)
async def chat(body: ChatRequest, service: Conversations, guard: ChatGuardDep) -> ChatResponse | JSONResponse:
    """Send one customer message and get the bot's replies (the web channel, synchronous form)."""
    session = identity.session_key(body.session)  # the token itself is never stored (docs/security.md)
    await guard.admit(service, session)  # over a limit: 429, and nothing is stored
    inbound = InboundMessage(
        channel=Channel.WEB,
        external_id=session,
        text=body.text,
        payload=body.payload,
        client_message_id=body.client_message_id,
        language=body.lang,
    )
    try:
        outcome = await service.handle(inbound)
    except MessageRejected as exc:
        return JSONResponse({"error": "invalid_message", "detail": str(exc)}, status_code=422)
    except BotUnavailable as exc:
        return JSONResponse(
            {"error": "bot_unavailable", "detail": str(exc), "conversation_id": exc.conversation_id},
            status_code=503,
        )
    return ChatResponse(
        conversation_id=outcome.conversation_id,
        replies=[Reply(text=r.text, buttons=[Button(**b) for b in r.buttons]) for r in outcome.replies],
    )


@router.get("/api/chat/history", response_model=HistoryResponse)
async def history(service: Conversations, session: str = Query(pattern=SESSION_PATTERN)) -> HistoryResponse:
    """The open conversation of a chat session, to restore the window after a reload."""
    conversation_id, messages = await service.transcript(Channel.WEB, identity.session_key(session))
    return HistoryResponse(
        conversation_id=conversation_id,
        messages=[
            HistoryMessage(
                id=m.id,
                sender=m.sender,
                channel=m.channel,
                text=m.text,
                buttons=[Button(**b) for b in m.buttons],
                created_at=m.created_at.isoformat(),
            )
            for m in messages
        ],
    )


@router.post(
    "/api/chat/telegram-link",
    response_model=LinkResponse,
    responses={404: {"description": "No Telegram bot is configured"}},
)
async def telegram_link(
    body: LinkRequest, service: Conversations, bot_username: Annotated[str | None, Depends(telegram_username)]
) -> LinkResponse | JSONResponse:
    """A one-time code that joins a Telegram account to this chat's customer and conversation."""
    if not bot_username:
        return JSONResponse(
            {"error": "telegram_unavailable", "detail": "no Telegram bot is configured"}, status_code=404
        )
    issued = await service.issue_link(Channel.WEB, identity.session_key(body.session), Channel.TELEGRAM)
    return LinkResponse(
        code=issued.code, url=f"https://t.me/{bot_username}?start={issued.code}", expires_at=issued.expires_at
    )
