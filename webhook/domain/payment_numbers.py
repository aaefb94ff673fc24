"""Payment card numbers and IBANs in text, for redaction (:mod:`webhook.domain.redaction`).

The checks are python-stdnum's (Luhn, ISO 13616 with each country's IBAN structure);
this module only finds where in a text a number may stand and returns the spans whose
digits pass. The text comes with its Persian and Arabic digits already read as 0-9.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from stdnum import iban as stdnum_iban
from stdnum import luhn, numdb
from stdnum.iso7064 import mod_97_10

Found = tuple[int, int]  # text[start:end]

# Groups of digits joined by one space or dash, not glued to Latin letters or digits (an id such as a uuid's hex).
DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9])\d+(?:[ \-]\d+)*(?![A-Za-z0-9])")
_DIGITS = re.compile(r"\d+")
_NON_DIGITS = re.compile(r"\D")
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}")
_ALNUM_GROUP = re.compile(r"[ \-]?[A-Za-z0-9]+")
_IBAN_SHORTEST, _IBAN_LONGEST = 15, 34
_IBAN_DB = numdb.get("iban")
# Iran uses IBANs ("Sheba") but is not in SWIFT's registry, so not in stdnum's: IR, 2 check digits, 22 digits.
_UNREGISTERED_IBANS = {"IR": "22!n"}
CARD_LENGTHS = range(13, 20)
# Visa 4, Mastercard 2 and 5, Amex 3, Discover and UnionPay 6, Iran's Shetab 5 and 6, mada 4 and 5. Not 0
# (a phone's 00 or trunk 0), not 1, 7, 8 or 9 (no issuer the customers here use; long ids start so too).
_CARD_FIRST_DIGITS = "23456"


def _iban_structure(region: str) -> str | None:
    """The BBAN structure of ``region``'s IBAN (``"2!n18!c"``)."""
    if region in _UNREGISTERED_IBANS:
        return _UNREGISTERED_IBANS[region]
    info = _IBAN_DB.info(region)[0][1]
    return str(info["bban"]) if info.get("bban") else None


@functools.cache
def iban_length(region: str) -> int | None:
    """The length of an IBAN of ``region`` that can be written with digits only (None otherwise)."""
    parts = re.findall(r"(\d+)!([nac])", _iban_structure(region) or "")
    if not parts or any(kind == "a" for _, kind in parts):
        return None
    return 4 + sum(int(count) for count, _ in parts)


def valid_iban(compact: str) -> bool:
    """ISO 13616: the country's structure and mod 97 (Iran's, outside the registry, by its known length)."""
    region = compact[:2].upper()
    if region not in _UNREGISTERED_IBANS:
        return stdnum_iban.is_valid(compact)
    return (
        len(compact) == iban_length(region) and compact[2:].isdigit() and mod_97_10.is_valid(compact[4:] + compact[:4])
    )


def find_ibans(text: str, bare_regions: Iterable[str] = ()) -> Iterator[Found]:
    """IBANs, spaced or not; also the digits alone of an IBAN of ``bare_regions`` (an Iranian Sheba without IR)."""
    for match in _IBAN_START.finditer(text):
        found = _longest_iban(text, match.start())
        if found is not None:
            yield found
    lengths = {region: length - 2 for region in bare_regions if (length := iban_length(region)) is not None}
    if lengths:
        for run in DIGIT_RUN.finditer(text):
            digits = _NON_DIGITS.sub("", run.group())
            if any(len(digits) == n and valid_iban(region + digits) for region, n in lengths.items()):
                yield run.start(), run.end()


def _longest_iban(text: str, start: int) -> Found | None:
    """The longest run of letter-digit groups from ``start`` that is a valid IBAN."""
    position, compact, best = start, "", None
    while len(compact) <= _IBAN_LONGEST:
        group = _ALNUM_GROUP.match(text, position)
        if group is None or (position == start and group.group()[0] in " -"):
            break
        compact += group.group().lstrip(" -").upper()
        position = group.end()
        if len(compact) >= _IBAN_SHORTEST and valid_iban(compact):
            best = (start, position)
    return best


def is_card(digits: str) -> bool:
    return len(digits) in CARD_LENGTHS and digits[0] in _CARD_FIRST_DIGITS and luhn.is_valid(digits)


def find_cards(text: str) -> Iterator[Found]:
    """Card numbers: whole groups of a digit run, 13 to 19 digits, not after a ``+`` (that is a phone)."""
    for run in DIGIT_RUN.finditer(text):
        if run.start() > 0 and text[run.start() - 1] == "+":
            continue
        groups = [(run.start() + g.start(), run.start() + g.end()) for g in _DIGITS.finditer(run.group())]
        if sum(end - begin for begin, end in groups) < min(CARD_LENGTHS):
            continue
        best: Found | None = None
        for first, (begin, _) in enumerate(groups):
            for _, end in groups[first:]:
                digits = _NON_DIGITS.sub("", text[begin:end])
                if len(digits) > max(CARD_LENGTHS):
                    break
                if is_card(digits) and (best is None or end - begin > best[1] - best[0]):
                    best = (begin, end)
        if best is not None:
            yield best
