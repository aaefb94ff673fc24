"""The deflection log, kept after every bot turn: which conversations the bot's answers settled.

An answer counts as an assumed deflection; the customer's "it helped" confirms
it, "it didn't" reverts it, and coming back about the same topic within the
window reverts the earlier conversation's (a recontact).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.turns import BotTurn
from webhook.store import feedback


class DeflectionLog:
    """Records answers as deflections and settles them on the customer's feedback or return."""

    def __init__(self, window_h: float = 24.0) -> None:
        self.window_h = window_h  # how long an answered question must stay quiet to count as deflected

    async def after_turn(self, session: AsyncSession, turn: BotTurn) -> None:
        kb = turn.report.kb
        # "About the same topic": the article answered, or one of those offered to choose from.
        topics = kb.topics if kb is not None else set()
        await feedback.revert_recontacts(session, turn.customer_id, turn.conversation_id, topics, self.window_h)
        if kb is not None and kb.answered:
            await feedback.record_answer(
                session, turn.conversation_id, turn.customer_id, kb.answered, turn.channel, turn.language
            )
        verdict = turn.report.feedback
        if verdict is not None and verdict.helpful:
            await feedback.confirm(session, turn.conversation_id)
        elif verdict is not None:
            await feedback.revert(session, turn.conversation_id, "not_helpful")
