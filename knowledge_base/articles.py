"""Help-centre articles and the Markdown-with-front-matter files they live in."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter

from knowledge_base.text import LANGUAGES


class ArticleFormatError(ValueError):
    """An article file is missing a field or has a wrong one."""


@dataclass(frozen=True)
class Article:
    """One translation of one article: the unit that is indexed and shown."""

    key: str
    lang: str
    title: str
    body: str
    questions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    version: int = 1

    def fingerprint(self) -> str:
        """A digest of everything the index is built from."""
        payload = json.dumps([self.key, self.lang, self.title, self.body, list(self.questions)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class ArticleSet:
    """All translations, grouped by article key."""

    by_key: dict[str, dict[str, Article]] = field(default_factory=dict)

    def add(self, article: Article) -> None:
        self.by_key.setdefault(article.key, {})[article.lang] = article

    def discard(self, key: str, lang: str | None = None) -> None:
        translations = self.by_key.get(key, {})
        for code in [lang] if lang else list(translations):
            translations.pop(code, None)
        if not translations:
            self.by_key.pop(key, None)

    def __iter__(self):
        for translations in self.by_key.values():
            yield from translations.values()

    def __len__(self) -> int:
        return sum(len(t) for t in self.by_key.values())


def parse_markdown(path: Path) -> Article:
    """Read one article file; raise :class:`ArticleFormatError` with the file named."""
    try:
        post = frontmatter.load(str(path))
    except Exception as exc:  # yaml errors come in several types
        raise ArticleFormatError(f"{path}: cannot parse front matter: {exc}") from exc
    meta = post.metadata
    missing = [name for name in ("key", "lang", "title") if not meta.get(name)]
    if missing:
        raise ArticleFormatError(f"{path}: missing {', '.join(missing)}")
    lang = str(meta["lang"])
    if lang not in LANGUAGES:
        raise ArticleFormatError(f"{path}: lang must be one of {LANGUAGES}, not {lang!r}")
    questions = meta.get("questions") or []
    tags = meta.get("tags") or []
    if not isinstance(questions, list) or not isinstance(tags, list):
        raise ArticleFormatError(f"{path}: questions and tags must be lists")
    body = post.content.strip()
    if not body:
        raise ArticleFormatError(f"{path}: the body is empty")
    return Article(
        key=str(meta["key"]),
        lang=lang,
        title=str(meta["title"]).strip(),
        body=body,
        questions=tuple(str(q).strip() for q in questions if str(q).strip()),
        tags=tuple(str(t) for t in tags),
    )


def load_markdown_dir(root: Path) -> ArticleSet:
    """Load every ``*.md`` below ``root`` (``<key>/<lang>.md`` by convention)."""
    articles = ArticleSet()
    for path in sorted(root.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        articles.add(parse_markdown(path))
    return articles
