"""The website channel: the chat page and its synchronous JSON endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from webhook.conversation_service import BotUnavailable, ConversationService, InboundMessage, MessageRejected
from webhook.store.schema import Channel


class Button(BaseModel):
    title: str
    payload: str


class Reply(BaseModel):
    text: str
    buttons: list[Button] = []


class ChatRequest(BaseModel):
    session: str = Field(min_length=8, max_length=200, description="The browser's chat session token")
    text: str = Field(description="What the customer wrote, or the label of the button pressed")
    payload: str | None = Field(None, max_length=500, description="A pressed button's payload")
    client_message_id: str | None = Field(None, max_length=100, description="Makes a resend idempotent")
    lang: str | None = Field(None, pattern="^(en|fa|ar)$", description="The widget's UI language")


class ChatResponse(BaseModel):
    conversation_id: str
    replies: list[Reply]


class HistoryMessage(BaseModel):
    id: int
    sender: str
    channel: str
    text: str
    buttons: list[Button]
    created_at: str


class HistoryResponse(BaseModel):
    conversation_id: str | None
    messages: list[HistoryMessage]


def web_router(templates) -> APIRouter:  # type: ignore[no-untyped-def]
    router = APIRouter(tags=["web chat"])

    def service(request: Request) -> ConversationService:
        return request.app.state.conversations

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @router.post(
        "/api/chat",
        response_model=ChatResponse,
        responses={422: {"description": "Invalid message"}, 503: {"description": "Stored, but the bot is down"}},
    )
    async def chat(request: Request, body: ChatRequest) -> ChatResponse | JSONResponse:
        """Send one customer message and get the bot's replies (the web channel, synchronous form)."""
        inbound = InboundMessage(
            channel=Channel.WEB,
            external_id=body.session,
            text=body.text,
            payload=body.payload,
            client_message_id=body.client_message_id,
            language=body.lang,
        )
        try:
            outcome = await service(request).handle(inbound)
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
    async def history(request: Request, session: str = Query(min_length=8, max_length=200)) -> HistoryResponse:
        """The open conversation of a chat session, to restore the window after a reload."""
        conversation_id, messages = await service(request).transcript(Channel.WEB, session)
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

    return router
