"""``POST /telegram/webhook``: Telegram's webhook, used when ``TELEGRAM_WEBHOOK_URL`` is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from webhook.channels.deps import telegram_channel
from webhook.channels.telegram.channel import TelegramChannel

router = APIRouter(tags=["telegram"])


class WebhookAck(BaseModel):
    """The update is stored (``duplicate``: it had been before, and is not processed again)."""

    ok: bool
    duplicate: bool


@router.post(
    "/telegram/webhook",
    response_model=WebhookAck,
    responses={403: {"description": "Wrong or missing secret token"}, 404: {"description": "Not configured"}},
)
async def webhook(
    request: Request, channel: Annotated[TelegramChannel | None, Depends(telegram_channel)]
) -> WebhookAck | JSONResponse:
    """Telegram's webhook: the update is stored before the 200, then processed in the background."""
    if channel is None or channel.polling:
        return JSONResponse({"error": "not_found", "detail": "the Telegram webhook is not enabled"}, 404)
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not hmac.compare_digest(given.encode(), channel.settings.telegram_webhook_secret.encode()):
        return JSONResponse({"error": "forbidden", "detail": "wrong secret token"}, 403)
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"error": "malformed_json", "detail": "the body is not valid JSON"}, 400)
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        return JSONResponse({"error": "invalid_update", "detail": "an update needs an integer update_id"}, 400)
    fresh = await channel.receive(payload)
    return WebhookAck(ok=True, duplicate=not fresh)
