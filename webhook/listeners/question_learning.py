"""Questions learnt from conversations, counted after every bot turn (``webhook/domain/learning.py``).

Registered only while ``KB_LEARN_QUESTIONS`` is on; with ``REDACT_SUGGESTIONS`` a question's
personal data is masked before it is counted (a question that carries some is otherwise left out).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain import learning
from webhook.domain.redaction import Redactor
from webhook.domain.turns import BotTurn
from webhook.store import suggestions


class QuestionLearning:
    """Counts a customer's question as a suggested phrasing of the article they confirmed or picked."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor

    async def after_turn(self, session: AsyncSession, turn: BotTurn) -> None:
        for found in learning.evidence(turn.report, turn.history, self.redactor):
            await suggestions.record(session, found, turn.conversation_id)
