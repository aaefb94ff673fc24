"""The one rule for text the databases can store: no lone UTF-16 surrogate, no NUL."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field, ValidationError

from webhook.domain.storable_text import StorableText, storable, text_problem


class Probe(BaseModel):
    text: StorableText


class Bounded(BaseModel):
    """With lengths, pydantic refuses a lone surrogate itself (it cannot measure it); a NUL is ours to refuse."""

    text: StorableText = Field(min_length=1, max_length=10)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("\ud800", "contains a lone UTF-16 surrogate"),
        ("a\udfffb", "contains a lone UTF-16 surrogate"),
        (json.loads('"\\ude00\\ud83d"'), "contains a lone UTF-16 surrogate"),  # a pair in the wrong order
        ("a\x00", "contains a NUL character"),
    ],
)
def test_what_no_database_can_store_is_named(text: str, problem: str) -> None:
    assert text_problem(text) == problem
    with pytest.raises(ValidationError) as refused:
        Probe(text=text)
    assert refused.value.errors()[0]["msg"] == f"Value error, the text {problem}"
    with pytest.raises(ValidationError):
        Bounded(text=text)
    assert storable(text).encode("utf-8") and "\x00" not in storable(text)


@pytest.mark.parametrize(
    "text", ["hello", json.loads('"\\ud83d\\ude00"'), "سلام ۱۲۳", "مرحبا", "tab\tand\nnewline", "\ufffd", "\uffff"]
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert text_problem(text) is None
    assert Probe(text=text).text == text
    assert Bounded(text=text[:10]).text == text[:10]
    assert storable(text) == text


def test_lengths_still_apply() -> None:
    for text in ("", "x" * 11):
        with pytest.raises(ValidationError):
            Bounded(text=text)
