"""Questions learnt from conversations, counted after every bot turn (``webhook/domain/learning.py``).

Registered only while ``KB_LEARN_QUESTIONS`` is on.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain import learning
from webhook.domain.turns import BotTurn
from webhook.store import suggestions


class QuestionLearning:
    """Counts a customer's question as a suggested phrasing of the article they confirmed or picked."""

    async def after_turn(self, session: AsyncSession, turn: BotTurn) -> None:
        for found in learning.evidence(turn.report, turn.history):
            await suggestions.record(session, found, turn.conversation_id)
