"""What a bot turn records beside its words: the contract between the custom actions and the service.

The actions (``actions/``) report what they did as Rasa ``custom`` JSON messages:
the search decision with its scores (``kb``), a request for a person
(``handoff``), the customer's verdict on an answer (``feedback``). The service
stores them, merged, with the first message of the turn, and adds records of its
own (a handoff notice, a release back to the bot, a resolution, ...). Both sides
write and read them only through these types, so the JSON shape is defined here
once; stored payloads keep exactly that shape, so older rows read the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Decision = Literal["answer", "clarify", "decline"]
DECISIONS: frozenset[str] = frozenset({"answer", "clarify", "decline"})

# Payload keys of the service's own records that mark where a stretch with the bot begins again.
BOUNDARY_KEYS = ("handoff_notice", "released")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Candidate:
    """An article translation the search found, with its fused score."""

    key: str
    lang: str
    title: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "lang": self.lang, "title": self.title, "score": self.score}

    @classmethod
    def from_json(cls, data: Any) -> Candidate | None:
        if not isinstance(data, Mapping) or data.get("key") is None:
            return None
        score = data.get("score")
        return cls(
            key=str(data["key"]),
            lang=str(data.get("lang") or ""),
            title=str(data.get("title") or ""),
            score=float(score) if isinstance(score, int | float) else 0.0,
        )


@dataclass(frozen=True)
class SearchRecord:
    """One knowledge-base decision (``kb``): the question, what was decided, and the candidates."""

    query: str | None  # None when the customer picked an article from a clarification
    decision: Decision
    candidates: tuple[Candidate, ...] = ()
    elapsed_ms: float | None = None
    context: str | None = None  # an earlier question read together with this one ("is it free?")
    chosen: str | None = None  # the article the customer picked from those offered
    answered: str | None = None  # the article the bot answered with

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"query": self.query, "decision": self.decision}
        if self.chosen is not None:
            data["chosen"] = self.chosen
        data["candidates"] = [c.to_json() for c in self.candidates]
        if self.elapsed_ms is not None:
            data["elapsed_ms"] = self.elapsed_ms
        if self.context is not None:
            data["context"] = self.context
        if self.answered is not None:
            data["answered"] = self.answered
        return data

    @classmethod
    def from_json(cls, data: Any) -> SearchRecord | None:
        if not isinstance(data, Mapping) or data.get("decision") not in DECISIONS:
            return None
        elapsed = data.get("elapsed_ms")
        candidates = (Candidate.from_json(c) for c in data.get("candidates") or ())
        return cls(
            query=_text(data.get("query")),
            decision=cast(Decision, data["decision"]),
            candidates=tuple(c for c in candidates if c is not None),
            elapsed_ms=float(elapsed) if isinstance(elapsed, int | float) else None,
            context=_text(data.get("context")),
            chosen=_text(data.get("chosen")),
            answered=_text(data.get("answered")),
        )

    def lang_of(self, key: str) -> str | None:
        """The translation of ``key`` among the candidates, if it is one."""
        return next((c.lang for c in self.candidates if c.key == key and c.lang), None)

    def title_of(self, key: str) -> str | None:
        return next((c.title for c in self.candidates if c.key == key and c.title), None)

    @property
    def topics(self) -> set[str]:
        """What this turn was about: the article answered, or the (at most three) offered to choose from."""
        if self.answered:
            return {self.answered}
        if self.decision == "clarify":
            return {c.key for c in self.candidates[:3]}
        return set()


@dataclass(frozen=True)
class HandoffRequest:
    """The customer asked for a person, or accepted the bot's offer of one (``handoff``)."""

    reason: str  # customer_request | bot_offer
    after: str | None = None  # what the bot did last (answer, clarify, decline, offered_human)
    article: str | None = None  # the article it answered with last, if any

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "after": self.after, "article": self.article}

    @classmethod
    def from_json(cls, data: Any) -> HandoffRequest | None:
        if not isinstance(data, Mapping):
            return None
        return cls(
            reason=str(data.get("reason") or "customer_request"),
            after=_text(data.get("after")),
            article=_text(data.get("article")),
        )


@dataclass(frozen=True)
class Feedback:
    """The customer's yes or no to an answer (``feedback``)."""

    article: str | None
    helpful: bool

    def to_json(self) -> dict[str, Any]:
        return {"article": self.article, "helpful": self.helpful}

    @classmethod
    def from_json(cls, data: Any) -> Feedback | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("helpful"), bool):
            return None
        return cls(article=_text(data.get("article")), helpful=bool(data["helpful"]))


@dataclass(frozen=True)
class ActionReport:
    """What the custom actions reported in one bot turn; each part is absent when no action made it."""

    kb: SearchRecord | None = None
    handoff: HandoffRequest | None = None
    feedback: Feedback | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # the rest of a stored payload, read as it is

    def to_json(self) -> dict[str, Any]:
        """The ``custom`` JSON an action sends (and the keys a stored payload keeps)."""
        data: dict[str, Any] = {}
        if self.kb is not None:
            data["kb"] = self.kb.to_json()
        if self.handoff is not None:
            data["handoff"] = self.handoff.to_json()
        if self.feedback is not None:
            data["feedback"] = self.feedback.to_json()
        return data

    @classmethod
    def read(cls, payload: Mapping[str, Any] | None) -> ActionReport:
        """The report in a stored payload or in Rasa's merged custom messages; unknown shapes read as absent."""
        if not payload:
            return cls()
        rest = {k: v for k, v in payload.items() if k not in ("kb", "handoff", "feedback")}
        return cls(
            kb=SearchRecord.from_json(payload.get("kb")),
            handoff=HandoffRequest.from_json(payload["handoff"]) if "handoff" in payload else None,
            feedback=Feedback.from_json(payload.get("feedback")),
            extra=rest,
        )

    @property
    def starts_bot_stretch(self) -> bool:
        """Whether this record marks where a stretch with the bot begins again (counts start over there)."""
        return any(key in self.extra for key in BOUNDARY_KEYS)


def reports(payloads: Iterable[Mapping[str, Any] | None]) -> list[ActionReport]:
    """The reports of a conversation's stored payloads, in order (empty payloads left out)."""
    return [ActionReport.read(p) for p in payloads if p]
