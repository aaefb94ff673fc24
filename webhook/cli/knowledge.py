"""``import-articles``, ``export-articles`` and ``calibrate``: the help centre's articles in and out of the
database, and the search's calibration."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.settings import get_settings

if TYPE_CHECKING:
    from knowledge_base.articles import ArticleSet

RESTART_NOTE = (
    "note: a running web service searches its in-memory index: it picks up these changes at its next start, "
    "when it rebuilds the index from the database (the index's stamp no longer matches)"
)


def read_kb_jsonl(path: Path) -> ArticleSet:
    """``kb.jsonl`` as ``eval`` reads it, checked line by line for what the database can hold."""
    from knowledge_base.articles import Article, ArticleFormatError, ArticleSet, key_problem
    from knowledge_base.evaluation import iter_kb_jsonl

    articles = ArticleSet()
    lines: dict[tuple[str, str], int] = {}
    try:
        for number, article in iter_kb_jsonl(path):
            where = f"{path}:{number}"
            problem = key_problem(article.key)
            if problem:
                raise ArticleFormatError(f"{where}: id {article.key!r} {problem}")
            if len(article.title.strip()) > 300:
                raise ArticleFormatError(f"{where}: the title is longer than 300 characters")
            if (article.key, article.lang) in lines:
                first = lines[article.key, article.lang]
                raise ArticleFormatError(f"{where}: id {article.key!r} in {article.lang!r} is already on line {first}")
            lines[article.key, article.lang] = number
            # stored as the Markdown loader would read it, so that an export reads back the same
            articles.add(
                Article(
                    key=article.key,
                    lang=article.lang,
                    title=article.title.strip(),
                    body=article.body.strip(),
                    questions=tuple(q.strip() for q in article.questions),
                    tags=article.tags,
                )
            )
    except OSError as exc:
        raise ArticleFormatError(f"{path}: cannot read it: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ArticleFormatError(f"{path}: not UTF-8 text: {exc}") from exc
    except ValueError as exc:  # iter_kb_jsonl's errors name the file and the line
        raise ArticleFormatError(str(exc)) from exc
    return articles


def import_articles(folder: Path | None, kb: Path | None, publish: bool) -> int:
    """Import a Markdown folder or a kb.jsonl file in one transaction; errors: stderr, status 1."""
    from knowledge_base.articles import ArticleFormatError, load_markdown_dir
    from webhook.store import articles as article_store
    from webhook.store.database import Database, migrate

    source = kb if kb is not None else folder
    assert source is not None
    try:
        if kb is not None:
            articles, note = read_kb_jsonl(kb), "import kb.jsonl"
        else:
            assert folder is not None
            if not folder.is_dir():
                raise ArticleFormatError(f"{folder} is not a folder")
            articles, note = load_markdown_dir(folder), "import"
    except ArticleFormatError as exc:
        print(f"error: {exc}; nothing was imported", file=sys.stderr)
        return 1

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> article_store.ImportCounts:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                counts = await article_store.import_articles(
                    session, articles, author="import", publish=publish, note=note
                )
                await session.commit()
                return counts
        finally:
            await db.dispose()

    counts = asyncio.run(go())
    mode = "published" if publish else "as drafts"
    print(f"imported {source} ({len(articles)} translations, {mode}): {counts.summary()}")
    if counts.created or counts.updated or counts.published:
        print(RESTART_NOTE)
    return 0


def export_articles(folder: Path, status: str, overwrite: bool) -> int:
    """Write the articles to ``folder/<key>/<lang>.md``; errors: stderr, status 1."""
    from knowledge_base.articles import Article, ArticleExportError, check_export_folder, export_markdown_dir
    from webhook.store import articles as article_store
    from webhook.store.database import Database, migrate

    try:
        check_export_folder(folder, overwrite)
    except ArticleExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> list[tuple[Article, dict[str, object]]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                if status == "published":
                    return [(article, {}) for article in await article_store.published_articles(session)]
                return [
                    (article, {"status": state, "version": article.version})
                    for article, state in await article_store.latest_articles(session)
                ]
        finally:
            await db.dispose()

    entries = asyncio.run(go())
    try:
        written = export_markdown_dir(folder, entries, overwrite=overwrite)
    except ArticleExportError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 1
    what = "published versions" if status == "published" else "latest versions, drafts included"
    print(f"exported {len(written)} article translations ({what}) to {folder}")
    empty = [f"{a.key}/{a.lang}" for a, _ in entries if not a.body.strip()]
    if empty:
        print(
            f"warning: {len(empty)} translations have an empty body (e.g. {empty[0]}; kb.jsonl articles have "
            "none): import-articles refuses an empty body, so write one before importing this folder",
            file=sys.stderr,
        )
    kept = set(written)
    others = [p for p in folder.rglob("*.md") if p not in kept and p.name.lower() != "readme.md"]
    if others:
        print(
            f"warning: {len(others)} other .md files in {folder} were left as they were "
            f"(e.g. {others[0]}); import-articles would read them too",
            file=sys.stderr,
        )
    return 0


def calibrate_with(kb, questions_path: Path, target: Path) -> str:  # type: ignore[no-untyped-def]
    from knowledge_base.calibration import calibrate_knowledge_base
    from knowledge_base.evaluation import load_questions

    record = calibrate_knowledge_base(kb, load_questions(questions_path), target, source=str(questions_path))
    m = record["metrics"]
    summary = ", ".join(f"{k} {m[k]:.3f}" for k in ("top1", "in_scope_accuracy", "oos_recall") if k in m)
    return (
        f"calibrated on {questions_path.name}: weights {record['weights']}, "
        f"thresholds {record['thresholds']} ({summary}) -> {target}"
    )


def calibrate(questions: Path | None) -> int:
    from webhook.app import load_knowledge_base
    from webhook.store.database import Database, migrate

    settings = get_settings()
    migrate(settings.database_url)
    source = questions or settings.kb_calibration_questions

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            kb = await load_knowledge_base(settings, db)
            return calibrate_with(kb, source, settings.kb_calibration_file)
        finally:
            await db.dispose()

    print(asyncio.run(go()))
    return 0
