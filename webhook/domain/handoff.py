"""When the bot steps aside, and whether someone is there to take over.

The triggers read what the bot's turns recorded (the search decisions, the
customer's feedback) and the customer's own words (the frustration score). Each
is configurable, and the reason is kept with the handoff request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook.domain.frustration import score as frustration_score
from webhook.domain.turns import ActionReport


@dataclass(frozen=True)
class HandoffRules:
    after_declines: int = 2  # 0: off
    after_not_helpful: int = 2  # 0: off
    frustration_threshold: float = 0.7  # 0: off


def since_last_boundary(records: Sequence[ActionReport]) -> Sequence[ActionReport]:
    """The bot's turn records since the conversation last came back to the bot."""
    for i in range(len(records) - 1, -1, -1):
        if records[i].starts_bot_stretch:
            return records[i + 1 :]
    return records


def rule_trigger(rules: HandoffRules, records: Sequence[ActionReport]) -> tuple[str, dict[str, Any]] | None:
    """After a bot turn: N declines in a row, or N answers the customer said did not help."""
    recent = since_last_boundary(records)
    if rules.after_declines:
        streak = 0
        for record in reversed(recent):
            if record.kb is None:
                continue
            if record.kb.decision != "decline":
                break
            streak += 1
        if streak >= rules.after_declines:
            return "repeated_decline", {"declines": streak}
    if rules.after_not_helpful:
        unhelpful = sum(1 for r in recent if r.feedback is not None and not r.feedback.helpful)
        if unhelpful >= rules.after_not_helpful:
            return "not_helpful", {"not_helpful": unhelpful}
    return None


def frustration_trigger(rules: HandoffRules, text: str, earlier: list[str]) -> tuple[str, dict[str, Any]] | None:
    if not rules.frustration_threshold:
        return None
    found = frustration_score(text, earlier)
    if found.score >= rules.frustration_threshold:
        return "frustration", {"score": found.score, "signals": found.signals, "explanation": found.explain()}
    return None
