"""The chat limits of the website channel, checked before a customer message is stored.

The same check for the REST route and the WebSocket: per IP, per chat session, and per IP
for a message that would open a new conversation (the policy: ``webhook.runtime.abuse_limits``).
A refused message is not stored; the REST route answers 429 and the socket an ``error``
frame ``rate_limited`` with ``retry_after``, and the widget sends it again after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from webhook.channels.deps import abuse_limits, client_ip
from webhook.channels.web.schemas import ErrorFrame
from webhook.domain.abuse import RateLimited
from webhook.domain.enums import Channel
from webhook.runtime.abuse_limits import AbuseLimits
from webhook.services.conversations import ConversationService


@dataclass(frozen=True)
class ChatGuard:
    """The chat limits of one client (its IP, as the proxies we trust tell it)."""

    limits: AbuseLimits
    ip: str

    async def admit(self, service: ConversationService, session: str) -> None:
        """A REST message: RateLimited when over a limit (asks the store whether it would open a conversation)."""
        if self.limits.enabled:
            opening = await service.current_conversation_id(Channel.WEB, session) is None
            await self.limits.chat_message(self.ip, session, new_conversation=opening)

    async def refusal(self, session: str, client_message_id: str, *, opening: bool) -> ErrorFrame | None:
        """A WebSocket message: None when within the limits, else the error frame to send instead of storing it."""
        try:
            await self.limits.chat_message(self.ip, session, new_conversation=opening)
        except RateLimited as exc:
            return ErrorFrame(
                error="rate_limited",
                detail=exc.detail,
                client_message_id=client_message_id,
                retry_after=exc.retry_after_s,
            )
        return None


def chat_guard(
    limits: Annotated[AbuseLimits, Depends(abuse_limits)], ip: Annotated[str, Depends(client_ip)]
) -> ChatGuard:
    return ChatGuard(limits, ip)


ChatGuardDep = Annotated[ChatGuard, Depends(chat_guard)]
