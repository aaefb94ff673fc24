"""The article file format: every field survives a write and a read, and an unsafe key is refused.

Import and export through the database and the CLI are in tests/service/test_article_io.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.articles import Article, parse_markdown, to_markdown


def fields(article: Article) -> tuple:
    return (article.key, article.lang, article.title, article.body, article.questions, article.tags)


# -- the file format ------------------------------------------------------------------
TRICKY = [
    "yes",
    "null",
    "123",
    "2024-01-01",
    "key: value # not a comment",
    "- not a list",
    "---",
    "line one\n---\nline three",
    "'single' and \"double\" quotes",
    "a\u2028b\x85c",
    "Tab\tinside",
    "چطور می‌توانم سفارشم را لغو کنم؟",  # with a zero-width non-joiner
    "كيف أغيّر عنوان التوصيل؟",
    "x" * 400,
]


@pytest.mark.parametrize("text", TRICKY)
def test_a_written_article_reads_back_field_for_field(tmp_path: Path, text: str):
    article = Article("k-1", "fa", text, f"Body\n\n---\n\n{text}\n\n* end", (text, "second"), (text, "tag"))
    path = tmp_path / "a.md"
    path.write_text(to_markdown(article, {"status": "draft", "version": 7}), encoding="utf-8")
    assert fields(parse_markdown(path)) == fields(article)


# -- Markdown folders ----------------------------------------------------------------
def test_the_loader_refuses_an_unsafe_key(tmp_path: Path):
    path = tmp_path / "x.md"
    path.write_text("---\nkey: ../up\nlang: en\ntitle: T\n---\nBody.\n")
    with pytest.raises(ValueError, match=r"key '\.\./up' must not contain"):
        parse_markdown(path)
