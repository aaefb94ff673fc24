"""What a bot turn records beside its words: the contract between the custom actions and the service.

The actions (``actions/``) report what they did as Rasa ``custom`` JSON messages:
the search decision with its scores (``kb``), a request for a person
(``handoff``), the customer's verdict on an answer (``feedback``). The service
stores them, merged, with the first message of the turn, and adds records of its
own (a handoff notice, a release back to the bot, a resolution, ...). Both sides
write and read them only through these types, so the JSON shape is defined here
once; stored payloads keep exactly that shape, so older rows read the same.

A stored message's payload is one JSON object with up to three parts:
:class:`ActionReport` (the actions'), :class:`ServiceRecord` (the service's own)
and :class:`CustomerRecord` (what came with a customer's message);
:class:`TurnRecord` joins them. :class:`BotTurn` is what the listeners that run
after a bot turn read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from webhook.domain.enums import Channel

Decision = Literal["answer", "clarify", "decline"]
DECISIONS: frozenset[str] = frozenset({"answer", "clarify", "decline"})

# The payload keys of each part of a stored message's payload.
ACTION_KEYS = ("kb", "handoff", "feedback")
SERVICE_KEYS = (
    "handoff_notice",
    "ticket",
    "released",
    "resolved",
    "csat",
    "linked",
    "command",
    "frustration",
    "attachment_reply",
    "error",
)
CUSTOMER_KEYS = ("button", "attachment", "csat")
# The service's records that mark where a stretch with the bot begins again.
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
    # the rest of a stored payload, read as it is; not part of the report, so equality leaves it out
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
        rest = {k: v for k, v in payload.items() if k not in ACTION_KEYS}
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


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class ServiceRecord:
    """What the service itself recorded with a message it posted, beside any action report."""

    handoff_notice: str | None = None  # why the conversation was queued for a person
    ticket: bool | None = None  # with a handoff notice: nobody was there, so it waits as a ticket
    released: str | None = None  # the agent who gave the conversation back to the bot
    resolved: str | None = None  # who resolved the conversation: bot | agent
    csat: str | None = None  # "reply": one of the satisfaction survey's own messages
    linked: str | None = None  # the channel that joined the conversation with a link code
    command: str | None = None  # the channel command answered without asking Rasa (/help)
    frustration: Mapping[str, Any] | None = None  # the score, signals and explanation that handed off
    attachment_reply: bool = False  # the answer to a file the bot cannot read
    error: str | None = None  # no_reply: Rasa answered with nothing

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.handoff_notice is not None:
            data["handoff_notice"] = self.handoff_notice
        if self.ticket is not None:
            data["ticket"] = self.ticket
        texts = {
            "released": self.released,
            "resolved": self.resolved,
            "csat": self.csat,
            "linked": self.linked,
            "command": self.command,
        }
        data.update({key: value for key, value in texts.items() if value is not None})
        if self.frustration is not None:
            data["frustration"] = dict(self.frustration)
        if self.attachment_reply:
            data["attachment_reply"] = True
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def read(cls, payload: Mapping[str, Any] | None) -> ServiceRecord:
        """The service's records in a stored payload; unknown shapes read as absent."""
        if not payload:
            return cls()
        ticket = payload.get("ticket")
        return cls(
            handoff_notice=_text(payload.get("handoff_notice")),
            ticket=ticket if isinstance(ticket, bool) else None,
            released=_text(payload.get("released")),
            resolved=_text(payload.get("resolved")),
            csat=_text(payload.get("csat")),
            linked=_text(payload.get("linked")),
            command=_text(payload.get("command")),
            frustration=_mapping(payload.get("frustration")),
            attachment_reply=payload.get("attachment_reply") is True,
            error=_text(payload.get("error")),
        )


@dataclass(frozen=True)
class CustomerRecord:
    """What is kept with a customer's message beside its text."""

    button: str | None = None  # a pressed button's payload, as Rasa was given it (a replay gives it again)
    attachment: Mapping[str, Any] | None = None  # a file the bot cannot read, kept for an agent
    csat: str | None = None  # an answer to the satisfaction survey: "csat:N", "csat:skip" or "comment"
    extra: Mapping[str, Any] = field(default_factory=dict)  # the channel's own (an edit's original message id)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        if self.button:
            data["button"] = self.button
        if self.attachment:
            data["attachment"] = dict(self.attachment)
        if self.csat is not None:
            data["csat"] = self.csat
        return data

    @classmethod
    def read(cls, payload: Mapping[str, Any] | None) -> CustomerRecord:
        """The customer's part of a stored payload; unknown shapes read as absent."""
        if not payload:
            return cls()
        button = payload.get("button")
        return cls(
            button=button if isinstance(button, str) else None,
            attachment=_mapping(payload.get("attachment")),
            csat=_text(payload.get("csat")),
            extra={k: v for k, v in payload.items() if k not in (*CUSTOMER_KEYS, *ACTION_KEYS, *SERVICE_KEYS)},
        )


class Recorded(Protocol):
    """A record that becomes (part of) a stored message's payload."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TurnRecord:
    """A stored message's whole payload: the actions' report, the service's records, the customer's part."""

    report: ActionReport = field(default_factory=ActionReport)
    service: ServiceRecord = field(default_factory=ServiceRecord)
    customer: CustomerRecord = field(default_factory=CustomerRecord)

    def to_json(self) -> dict[str, Any]:
        return {**self.customer.to_json(), **self.report.to_json(), **self.service.to_json()}

    @classmethod
    def read(cls, payload: Mapping[str, Any] | None) -> TurnRecord:
        return cls(ActionReport.read(payload), ServiceRecord.read(payload), CustomerRecord.read(payload))


@dataclass(frozen=True)
class BotTurn:
    """A bot turn just stored, as the listeners that run after it read it (the deflection log, learning)."""

    conversation_id: str
    customer_id: str
    channel: Channel
    language: str
    report: ActionReport  # what the actions reported in this turn
    history: tuple[ActionReport, ...]  # the conversation's records so far, this turn's last when it reported any
