"""Redaction of personal data (webhook/domain/redaction.py), measured on a labelled set.

``tests/data/redaction_set.jsonl``: hand-written customer messages in English, Persian
and Arabic, each with the substrings that must be masked (and their kind) and the
ordinary numbers that must survive (amounts, dates, times, quantities, order numbers,
years). ``-s`` prints precision and recall per kind and per language.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from webhook.domain.payment_numbers import valid_iban
from webhook.domain.redaction import (
    PLACEHOLDERS,
    InvalidRedactionSetting,
    Redactor,
    Span,
    fold_digits,
)

SET = Path(__file__).resolve().parents[1] / "data" / "redaction_set.jsonl"
MUST_CATCH = ("email", "phone", "card")  # recall 1.0 required; IBANs are measured and reported too
LANGS = ("en", "fa", "ar")


def load_set() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def occurrences(text: str, part: str) -> list[tuple[int, int]]:
    return [(m.start(), m.start() + len(part)) for m in re.finditer(re.escape(part), text)]


def covers(span: Span, start: int, end: int) -> bool:
    return span.start <= start and span.end >= end


def overlaps(span: Span, start: int, end: int) -> bool:
    return span.start < end and start < span.end


@dataclass
class Score:
    expected: int = 0
    caught: int = 0  # expected spans wholly masked as their kind
    found: int = 0
    right: int = 0  # found spans over an expected span of their kind

    @property
    def recall(self) -> float:
        return self.caught / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.right / self.found if self.found else 1.0


@dataclass
class Evaluation:
    scores: dict[tuple[str, str], Score]  # (kind, lang), lang "all" for the totals
    missed: list[str]
    ordinary_masked: list[str]
    leaked: list[str]  # an expected substring still in the redacted text


def evaluate(redactor: Redactor, rows: list[dict[str, Any]]) -> Evaluation:
    scores: dict[tuple[str, str], Score] = defaultdict(Score)
    missed, ordinary_masked, leaked = [], [], []
    for row in rows:
        text, lang = row["text"], row["lang"]
        found = redactor.find(text)
        expected = [(m["kind"], *occurrences(text, m["text"])[0]) for m in row["mask"]]
        for kind, start, end in expected:
            for key in ((kind, lang), (kind, "all")):
                scores[key].expected += 1
                scores[key].caught += any(s.kind == kind and covers(s, start, end) for s in found)
            if not any(s.kind == kind and covers(s, start, end) for s in found):
                missed.append(f"{kind} {text[start:end]!r} in {text!r}: found {found}")
        for span in found:
            right = any(kind == span.kind and overlaps(span, start, end) for kind, start, end in expected)
            for key in ((span.kind, lang), (span.kind, "all")):
                scores[key].found += 1
                scores[key].right += right
        for keep in row["keep"]:
            for start, end in occurrences(text, keep):
                if any(overlaps(s, start, end) for s in found):
                    ordinary_masked.append(f"{keep!r} in {text!r}: found {found}")
        redacted = redactor(text)
        leaked += [f"{m['text']!r} in {redacted!r}" for m in row["mask"] if m["text"] in redacted]
    return Evaluation(dict(scores), missed, ordinary_masked, leaked)


def report(evaluation: Evaluation) -> str:
    lines = ["kind    lang  expected  recall  found  precision"]
    for (kind, lang), score in sorted(evaluation.scores.items()):
        lines.append(
            f"{kind:<7} {lang:<4} {score.expected:>9} {score.recall:>7.3f} {score.found:>6} {score.precision:>10.3f}"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()  # the defaults: REDACT_PHONE_REGIONS=IR,SA,AE,EG,IQ,GB,US,DE, no patterns


def test_the_labelled_set_is_big_enough_and_well_formed() -> None:
    rows = load_set()
    per_lang = Counter(r["lang"] for r in rows)
    assert all(per_lang[lang] >= 40 for lang in LANGS), per_lang
    kinds = Counter((m["kind"], r["lang"]) for r in rows for m in r["mask"])
    for lang in LANGS:
        for kind in ("email", "phone", "card", "iban"):
            assert kinds[(kind, lang)] >= 3, (kind, lang)
    assert sum(len(r["keep"]) for r in rows) >= 80
    for row in rows:
        for masked in row["mask"]:
            assert len(occurrences(row["text"], masked["text"])) == 1, masked
            assert masked["kind"] in PLACEHOLDERS


def test_every_seeded_email_phone_and_card_is_caught_and_no_ordinary_number_is_masked(redactor: Redactor) -> None:
    evaluation = evaluate(redactor, load_set())
    print("\n" + report(evaluation))
    assert not evaluation.missed, "\n".join(evaluation.missed)
    assert not evaluation.ordinary_masked, "\n".join(evaluation.ordinary_masked)
    assert not evaluation.leaked, "\n".join(evaluation.leaked)
    for kind in MUST_CATCH:
        for lang in LANGS:
            assert evaluation.scores[(kind, lang)].recall == 1.0
    for (kind, _), score in evaluation.scores.items():
        assert score.precision == 1.0, kind


def test_the_evaluation_can_fail() -> None:
    """A redactor that knows no phone region misses the national numbers, and the evaluation says so."""
    evaluation = evaluate(Redactor(phone_regions=""), load_set())
    assert evaluation.scores[("phone", "all")].recall < 1.0
    assert any(m.startswith("phone") for m in evaluation.missed)


def test_placeholders_replace_the_customers_own_digits(redactor: Redactor) -> None:
    result = redactor.redact("شماره‌ام ۰۹۱۲۳۴۵۶۷۸۹ و ایمیلم a.b@example.com است، سفارش ۴۸۲۱۳")
    assert result.text == "شماره‌ام [phone] و ایمیلم [email] است، سفارش ۴۸۲۱۳"
    assert result.kinds == ("phone", "email")
    assert result.counts == Counter({"phone": 1, "email": 1})
    assert fold_digits("۰۱٩٨") == "0198" and len(fold_digits("٫٬")) == 2


def test_a_card_is_found_among_other_numbers_and_must_pass_luhn(redactor: Redactor) -> None:
    assert redactor("4111 1111 1111 1111 2 items") == "[card] 2 items"
    assert redactor("4111 1111 1111 1112") == "4111 1111 1111 1112"  # Luhn fails
    assert redactor("1111 1111 1111 1117") == "1111 1111 1111 1117"  # Luhn passes, but no card starts with 1
    assert redactor("conversation 4111111111111111abcdef") == "conversation 4111111111111111abcdef"  # an id's hex


def test_ibans_are_checked_with_mod_97() -> None:
    assert valid_iban("GB82WEST12345698765432")
    assert not valid_iban("GB83WEST12345698765432")
    assert valid_iban("IR840629600000001003242000")  # Iran: not in SWIFT's registry, checked by its length
    assert not valid_iban("IR850629600000001003242000")
    assert "[iban]" not in Redactor()("IR85 0629 6000 0000 1003 2420 00")


def test_configured_patterns_mask_what_they_match_as_ids() -> None:
    redactor = Redactor(patterns=r"ORD-\d{6};; \b\d{10}\b ")
    assert redactor("where is ORD-482139? my national id is ۰۰۱۲۳۴۵۶۷۸") == "where is [id]? my national id is [id]"
    assert redactor("order 48213") == "order 48213"


@pytest.mark.parametrize(
    ("patterns", "problem"),
    [("ORD-(\\d+", "pattern 1 'ORD-(\\\\d+' is not a valid regular expression"), ("x;;a*", "pattern 2")],
)
def test_a_bad_pattern_is_refused_with_a_clear_error(patterns: str, problem: str) -> None:
    with pytest.raises(InvalidRedactionSetting, match=re.escape(problem)):
        Redactor(patterns=patterns)


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(InvalidRedactionSetting, match="XX"):
        Redactor(phone_regions="IR,XX")


def test_text_without_personal_data_comes_back_unchanged(redactor: Redactor) -> None:
    for text in ("", "how do I reset my password?", "$1,250.00 on 2024-05-31 at 14:30", "۱۲۰۰ تومان ۱۴۰۳/۰۲/۱۰"):
        assert redactor.redact(text).text == text
        assert redactor.redact(text).kinds == ()
