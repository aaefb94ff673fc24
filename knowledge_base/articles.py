"""Help-centre articles and the Markdown-with-front-matter files they live in."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

from knowledge_base.text import LANGUAGES


class ArticleFormatError(ValueError):
    """An article file is missing a field or has a wrong one."""


class ArticleExportError(ValueError):
    """Articles cannot be written where they were asked to go."""


KEY_MAX_LENGTH = 120  # the database column's width


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an article key, or None when it can.

    A key is a folder name on export (``<key>/<lang>.md``), so it must be one safe
    path component: no separators, no ``..``, no leading dot, no control characters;
    and it is a URL path segment in the editor API, so it holds no spaces either.
    Letters of either case and punctuation such as ``?`` are allowed: the
    evaluation sets' ids use them (``Refund_not_showing_up``, ``reverted_card_payment?``).
    """
    if not key:
        return "is empty"
    if len(key) > KEY_MAX_LENGTH:
        return f"is longer than {KEY_MAX_LENGTH} characters"
    if any(ch.isspace() for ch in key):
        return "must not contain spaces"
    if "/" in key or "\\" in key or ".." in key or key.startswith("."):
        return "must not contain '/', '\\' or '..', nor start with '.'"
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return "contains a control character"
    return None


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
    problem = key_problem(str(meta["key"]))
    if problem:
        raise ArticleFormatError(f"{path}: key {str(meta['key'])!r} {problem}")
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


# -- writing: the inverse of parse_markdown ------------------------------------------
FIELDS = ("key", "lang", "title", "questions", "tags")


class _Dumper(yaml.SafeDumper):
    """Safe YAML that keeps every string as it is: no line folding, no ``\\u`` escapes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # YAML reads NEL and the Unicode line/paragraph separators as line breaks: escape them.
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_markdown(article: Article, extra: Mapping[str, object] | None = None) -> str:
    """The article as a Markdown file with YAML front matter, which :func:`parse_markdown` reads back.

    ``extra`` adds front-matter keys the loader ignores (an export's ``status``, ``version``).
    Empty ``questions``/``tags`` are left out (the loader reads a missing list as empty).
    """
    meta: dict[str, object] = {"key": article.key, "lang": article.lang, "title": article.title}
    if article.questions:
        meta["questions"] = list(article.questions)
    if article.tags:
        meta["tags"] = list(article.tags)
    for name, value in (extra or {}).items():
        if name in FIELDS:
            raise ValueError(f"extra front matter must not replace {name!r}")
        meta[name] = value
    front = yaml.dump(meta, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 30)
    return f"---\n{front}---\n{article.body}\n"


def article_path(root: Path, key: str, lang: str) -> Path:
    """``root/<key>/<lang>.md``, refusing a key or language that is not one safe path component."""
    problem = key_problem(key)
    if problem:
        raise ArticleExportError(f"cannot export key {key!r}: it {problem}")
    if lang not in LANGUAGES:
        raise ArticleExportError(f"cannot export {key!r}: lang must be one of {LANGUAGES}, not {lang!r}")
    return root / key / f"{lang}.md"


def check_export_folder(root: Path, overwrite: bool = False) -> None:
    """Refuse a folder that is a file, or one that has anything in it unless ``overwrite``."""
    if root.exists() and not root.is_dir():
        raise ArticleExportError(f"{root} exists and is not a folder")
    if not overwrite and root.is_dir() and any(root.iterdir()):
        raise ArticleExportError(f"{root} is not empty: choose an empty folder, or pass --overwrite")


def export_markdown_dir(
    root: Path, entries: Iterable[tuple[Article, Mapping[str, object]]], overwrite: bool = False
) -> list[Path]:
    """Write each article to ``root/<key>/<lang>.md`` (the layout :func:`load_markdown_dir` reads).

    Everything is checked before anything is written. With ``overwrite``, files of the
    same name are replaced and other files are left alone.
    """
    check_export_folder(root, overwrite)
    planned: list[tuple[Path, str]] = []
    seen: dict[str, Article] = {}
    for article, extra in entries:
        path = article_path(root, article.key, article.lang)
        name = f"{article.key}/{article.lang}".casefold()  # one file on a case-insensitive disk
        if name in seen:
            other = seen[name]
            raise ArticleExportError(
                f"{article.key!r} ({article.lang}) and {other.key!r} ({other.lang}) would be the same file"
            )
        seen[name] = article
        planned.append((path, to_markdown(article, extra)))
    root.mkdir(parents=True, exist_ok=True)
    for path, text in planned:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    return [path for path, _ in planned]
