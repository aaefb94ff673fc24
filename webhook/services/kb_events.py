"""The knowledge base's announcements between workers, on the event bus's ``kb`` topic.

A worker that changes an article translation, the calibration or the model says so,
and the others bring their own copy in line. Each event names its ``origin`` (the
announcing worker), so that a worker skips its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from webhook.runtime.events import Event


@dataclass(frozen=True)
class ArticleChanged:
    """A translation was saved, published, archived, rolled back or removed: re-read it from the store."""

    key: str
    lang: str
    origin: str


@dataclass(frozen=True)
class CalibrationChanged:
    """The calibration file was rewritten: re-read it."""

    calibration: str  # the file's path
    origin: str


@dataclass(frozen=True)
class ModelChanged:
    """The optimise job switched models: load the same one."""

    model: str
    origin: str


KbEvent = ArticleChanged | CalibrationChanged | ModelChanged


def as_event(change: KbEvent) -> Event:
    """The JSON-ready dict the bus carries."""
    return asdict(change)


def read_kb_event(event: Event) -> KbEvent:
    """The announcement an event carries; KeyError when it is none of them."""
    origin = str(event.get("origin"))
    if "calibration" in event:
        return CalibrationChanged(str(event["calibration"]), origin)
    if "model" in event:
        return ModelChanged(str(event["model"]), origin)
    return ArticleChanged(str(event["key"]), str(event["lang"]), origin)
