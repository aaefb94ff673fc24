"""The bot steps aside: when (the rules), to whom (the desk), and what the customer is told.

A handoff comes from the customer's request (the ``action_request_human`` custom
action's report), from the rules over the bot's turns (declines in a row, answers
that did not help), or from a frustrated message. The conversation joins the
agents' queue (or waits as a ticket when nobody is there), Rasa's tracker is
paused, and the customer is told where they stand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.business_hours import BusinessHours
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.handoff import frustration_trigger, rule_trigger
from webhook.domain.messages import BotReply
from webhook.domain.phrases import phrase
from webhook.domain.policy import ConversationPolicy
from webhook.domain.turns import ActionReport, ServiceRecord
from webhook.runtime.rasa_client import RasaClient
from webhook.services.posting import Poster
from webhook.store import agents as agents_repo
from webhook.store import feedback
from webhook.store.database import Database
from webhook.store.schema import Conversation


@dataclass(frozen=True)
class Desk:
    """Business hours plus the agents who are online."""

    hours: BusinessHours
    online_window_s: float = 90.0

    async def staffed(self, session: AsyncSession, moment: datetime | None = None) -> bool:
        if not self.hours.is_open(moment or datetime.now(UTC)):
            return False
        return await agents_repo.agents_online(session, self.online_window_s) > 0


def _json(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if detail is None else dict(detail)


class Handoff:
    """Queues conversations for a person, on request or when a rule says the bot is not helping."""

    def __init__(self, db: Database, rasa: RasaClient, poster: Poster, desk: Desk, policy: ConversationPolicy) -> None:
        self.db = db
        self.rasa = rasa
        self.poster = poster
        self.desk = desk
        self.policy = policy

    def frustrated(self, text: str, earlier: list[str]) -> tuple[str, dict[str, Any]] | None:
        """(reason, detail) when the customer's message says they are at the end of their tether."""
        return frustration_trigger(self.policy.rules, text, earlier)

    async def after_turn(
        self, conversation_id: str, report: ActionReport, records: Sequence[ActionReport], channel: Channel
    ) -> list[BotReply]:
        """Hand off when the customer asked for a person in this turn, or when a rule fires on the records."""
        if report.handoff is not None:
            return await self.hand_off(conversation_id, report.handoff.reason, report.handoff.to_json(), channel)
        triggered = rule_trigger(self.policy.rules, records)
        if triggered is not None:
            return await self.hand_off(conversation_id, *triggered, channel=channel)
        return []

    async def hand_off(
        self,
        conversation_id: str,
        reason: str,
        detail: Mapping[str, Any] | None = None,
        channel: Channel | None = None,
    ) -> list[BotReply]:
        """Queue the conversation for a person and tell the customer where they stand."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.status != ConversationStatus.BOT:
                return []
            staffed = await self.desk.staffed(session)
            await agents_repo.enqueue(session, conversation, reason, _json(detail), ticket=not staffed)
            await feedback.revert(session, conversation_id, "handoff")
            position = await agents_repo.queue_position(session, conversation)
            lang = conversation.language or self.policy.default_language
            await session.commit()
        await self.rasa.append_events(conversation_id, [{"event": "pause"}])
        if staffed:
            notice = BotReply(phrase("queued", lang, position=position))
        else:
            notice = BotReply(phrase("offline", lang, hours=self.desk.hours.describe()))
        record = ServiceRecord(handoff_notice=reason, ticket=not staffed)
        await self.poster.post(conversation_id, channel, [notice], sender=Sender.SYSTEM, record=record)
        await self.poster.queue_changed(new=[conversation_id])
        return [notice]
