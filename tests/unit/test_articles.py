from pathlib import Path

import pytest

from knowledge_base.articles import ArticleFormatError, load_markdown_dir, parse_markdown
from knowledge_base.text import detect_language
from tests.conftest import DEMO


def test_demo_help_centre_has_twenty_articles_in_three_languages(demo_articles):
    assert len(demo_articles.by_key) >= 20
    for key, translations in demo_articles.by_key.items():
        assert set(translations) == {"en", "fa", "ar"}, key
        for lang, article in translations.items():
            assert article.title and len(article.body) > 100, (key, lang)
            assert len(article.questions) >= 3, (key, lang)
            assert detect_language(article.title + " " + article.body) == lang, (key, lang)


def test_demo_files_are_named_after_their_key_and_language():
    for path in DEMO.rglob("*.md"):
        article = parse_markdown(path)
        assert (article.key, article.lang) == (path.parent.name, path.stem)


def test_a_broken_article_names_its_file(tmp_path: Path):
    bad = tmp_path / "x" / "en.md"
    bad.parent.mkdir()
    bad.write_text("---\nkey: x\ntitle: No language\n---\nBody text.\n")
    with pytest.raises(ArticleFormatError, match=r"en\.md: missing lang"):
        load_markdown_dir(tmp_path)


def test_an_article_needs_a_body(tmp_path: Path):
    bad = tmp_path / "empty.md"
    bad.write_text("---\nkey: x\nlang: en\ntitle: T\n---\n\n")
    with pytest.raises(ArticleFormatError, match="body is empty"):
        parse_markdown(bad)
