"""When people are there to answer: ``BUSINESS_HOURS`` such as ``mon-fri 09:00-17:00; sat 10:00-14:00``.

Times are in ``BUSINESS_TIMEZONE`` (an IANA name). Empty hours mean always open;
agents must still be online for a chat to be answered live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from webhook.domain.errors import BusinessHoursError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPAN = re.compile(
    r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True)
class Span:
    day: int  # 0 = Monday
    start: time
    end: time


def _days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise BusinessHoursError(f"unknown day in {part!r}: use {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def _time(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise BusinessHoursError(f"not a time of day: {text!r}")
    return time(hours, minutes)


class BusinessHours:
    def __init__(self, spec: str = "", timezone: str = "UTC") -> None:
        self.spec = spec.strip()
        try:
            self.zone = ZoneInfo(timezone or "UTC")
        except Exception as exc:
            raise BusinessHoursError(f"unknown time zone {timezone!r}") from exc
        self.spans: list[Span] = []
        for chunk in filter(None, (c.strip().lower() for c in self.spec.split(";"))):
            match = _SPAN.match(chunk)
            if match is None:
                raise BusinessHoursError(f"cannot read {chunk!r}: write e.g. 'mon-fri 09:00-17:00'")
            start, end = _time(match["start"]), _time(match["end"])
            if end <= start:
                raise BusinessHoursError(f"{chunk!r} ends before it starts")
            self.spans.extend(Span(day, start, end) for day in _days(match["days"]))

    @property
    def always_open(self) -> bool:
        return not self.spans

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        local = moment.astimezone(self.zone)
        now = local.time()
        return any(s.day == local.weekday() and s.start <= now < s.end for s in self.spans)

    def describe(self) -> str:
        return f"{self.spec} ({self.zone.key})" if self.spec else "always"
