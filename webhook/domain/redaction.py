"""Personal data found in text and masked with a typed placeholder (``[email]``, ``[phone]``, ...).

Customers type e-mail addresses, phone numbers, card numbers and IBANs into the
chat. The agent must see them, so the message we store stays whole; but the
copies that outlive the conversation or reach people who do not need them (log
lines, the content gaps on ``/metrics``, learnt-question suggestions, Rasa's
tracker store) get the masked text instead (docs/security.md, "Redaction").

What counts as personal, and what does not:

- e-mail addresses;
- phone numbers that ``phonenumbers`` finds valid for one of the configured regions
  (in the national format with its trunk prefix, ``0912 123 4567``) or with a
  country code (``+966 50 123 4567``, ``00966…``, ``966501234567``);
- payment card numbers: 13 to 19 digits, spaced or dashed in groups, starting
  2 to 6 (Visa, Mastercard, Amex, Mir, UnionPay, Iran's Shetab, Saudi mada), and
  passing the Luhn check;
- IBANs (checked with ``python-stdnum``: country format and mod-97), also an
  Iranian Sheba or another configured country's IBAN written without its letters;
- whatever the operator's patterns match (``[id]``: an order or national id).

Ordinary numbers stay: amounts, dates, times, quantities, years, order numbers of
a few digits. Persian (U+06F0-06F9) and Arabic-Indic (U+0660-0669) digits are read
as 0-9 for matching; the span replaced is the customer's own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from webhook.domain.payment_numbers import find_cards, find_ibans

Kind = Literal["email", "iban", "card", "phone", "id"]
KINDS: tuple[Kind, ...] = ("email", "iban", "card", "phone", "id")  # also the order that breaks ties
PLACEHOLDERS: dict[Kind, str] = {kind: f"[{kind}]" for kind in KINDS}
_ANY_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
PATTERN_SEPARATOR = ";;"
DEFAULT_REGIONS = ("IR", "SA", "AE", "EG", "IQ", "GB", "US", "DE")

# One character for one character, so that a span found in the folded text is the same span in the original.
_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
    }
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9])"
)
_PHONE_SHAPE = re.compile(r"\d[\d \t().\-/\u00a0]*\d")
_MIN_PHONE_DIGITS = 7
# Shapes the matcher would reject anyway, common in log lines: an IPv4 address, a date (and the hour after it).
_NOT_PHONE = re.compile(
    r"\d{1,3}(?:\.\d{1,3}){3}|(?:\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{4})(?: \d{1,2})?"
)
_CONTEXT = 6  # characters around a phone-shaped stretch that the matcher sees ("+", "00", "(", "tel:")
_MIN_DIGITS_FOR_NUMBERS = 7  # a text with fewer digits holds no phone, card or IBAN worth the matcher's time


class InvalidRedactionSetting(ValueError):
    """A configured pattern or region that cannot be used; the app refuses to start with it."""


@dataclass(frozen=True, order=True)
class Span:
    """``text[start:end]`` is personal data of ``kind``."""

    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class Redacted:
    """The masked text and what was masked in it, one kind per span (for counts)."""

    text: str
    kinds: tuple[Kind, ...] = ()

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.kinds)


def without_placeholders(text: str) -> str:
    """What is left of a redacted text once its placeholders are taken out."""
    return _ANY_PLACEHOLDER.sub(" ", text)


def fold_digits(text: str) -> str:
    """Persian, Arabic-Indic and full-width digits as ASCII, every other character as it is (same length)."""
    return text.translate(_DIGITS)


def parse_patterns(patterns: str | Iterable[str]) -> list[re.Pattern[str]]:
    """``REDACT_PATTERNS`` (regexes separated by ``;;``) compiled; a clear error for a bad one."""
    items = patterns.split(PATTERN_SEPARATOR) if isinstance(patterns, str) else list(patterns)
    compiled = []
    for number, source in enumerate((p.strip() for p in items), start=1):
        if not source:
            continue
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise InvalidRedactionSetting(
                f"REDACT_PATTERNS: pattern {number} {source!r} is not a valid regular expression: {exc}"
            ) from None
        if pattern.fullmatch(""):
            raise InvalidRedactionSetting(f"REDACT_PATTERNS: pattern {number} {source!r} matches an empty text")
        compiled.append(pattern)
    return compiled


def parse_regions(regions: str | Iterable[str]) -> tuple[str, ...]:
    """``REDACT_PHONE_REGIONS`` (ISO 3166 codes, comma-separated) checked against ``phonenumbers``."""
    items = regions.split(",") if isinstance(regions, str) else list(regions)
    codes = tuple(dict.fromkeys(r.strip().upper() for r in items if r.strip()))
    unknown = [c for c in codes if c not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        raise InvalidRedactionSetting(f"REDACT_PHONE_REGIONS: unknown region code(s) {', '.join(unknown)}")
    return codes


class Redactor:
    """Finds personal data in text and masks it; built once from the settings (``webhook/app.py``)."""

    def __init__(self, phone_regions: str | Iterable[str] = DEFAULT_REGIONS, patterns: str | Iterable[str] = ()):
        self.regions = parse_regions(phone_regions)
        self.patterns = parse_patterns(patterns)

    def __call__(self, text: str) -> str:
        return self.redact(text).text

    def redact(self, text: str) -> Redacted:
        """The text with each piece of personal data replaced by its placeholder."""
        spans = self.find(text)
        if not spans:
            return Redacted(text)
        parts, position = [], 0
        for span in spans:
            parts += [text[position : span.start], PLACEHOLDERS[span.kind]]
            position = span.end
        parts.append(text[position:])
        return Redacted("".join(parts), tuple(s.kind for s in spans))

    def find(self, text: str) -> list[Span]:
        """The personal data in ``text``, in order, never overlapping (the longer span wins)."""
        if not text:
            return []
        folded = fold_digits(text)
        candidates = list(self._emails(folded)) + list(self._custom(folded))
        if sum(c.isdigit() for c in folded) >= _MIN_DIGITS_FOR_NUMBERS:
            candidates += [Span(*found, "iban") for found in find_ibans(folded, self.regions)]
            candidates += [Span(*found, "card") for found in find_cards(folded)]
            candidates += self._phones(folded)
        return _without_overlaps(candidates)

    # -- each kind -------------------------------------------------------------------
    @staticmethod
    def _emails(text: str) -> Iterator[Span]:
        if "@" in text:
            for match in _EMAIL.finditer(text):
                yield Span(match.start(), match.end(), "email")

    def _custom(self, text: str) -> Iterator[Span]:
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    yield Span(match.start(), match.end(), "id")

    def _phones(self, text: str) -> Iterator[Span]:
        """What ``phonenumbers`` finds valid in any configured region (a +country code is valid in all).

        The matcher runs on each phone-shaped stretch of the text (seven digits or more), not
        on the whole text: a log line full of timestamps and ids costs little that way.
        """
        for shape in _PHONE_SHAPE.finditer(text):
            if sum(c.isdigit() for c in shape.group()) < _MIN_PHONE_DIGITS or _NOT_PHONE.fullmatch(shape.group()):
                continue
            start = max(0, shape.start() - _CONTEXT)
            window = text[start : shape.end() + _CONTEXT]
            for region in self.regions or ("ZZ",):
                for match in PhoneNumberMatcher(window, region, leniency=Leniency.VALID):
                    span = Span(start + match.start, start + match.end, "phone")
                    if not _glued(text, span):
                        yield span


def _glued(text: str, span: Span) -> bool:
    """Whether the digits are part of a code such as ``ORD-2024-000123`` (joined to letters or digits by - / _)."""
    before, after = text[max(0, span.start - 2) : span.start], text[span.end : span.end + 2]
    return bool(re.fullmatch(r"[A-Za-z0-9][-/_]", before) or re.fullmatch(r"[-/_][A-Za-z0-9]", after))


def _without_overlaps(candidates: Sequence[Span]) -> list[Span]:
    """The longest spans first (ties: e-mail, IBAN, card, phone, id); an overlapping one is dropped."""
    ranked = sorted(set(candidates), key=lambda s: (s.start - s.end, KINDS.index(s.kind), s.start))
    kept: list[Span] = []
    for span in ranked:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept)
