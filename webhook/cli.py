"""Commands: ``python -m webhook run|migrate|prepare|calibrate|import-articles|export-articles|create-user``."""

from __future__ import annotations

import argparse
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


def _read_kb_jsonl(path: Path) -> ArticleSet:
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


def _import_articles(folder: Path | None, kb: Path | None, publish: bool) -> int:
    """Import a Markdown folder or a kb.jsonl file in one transaction; errors: stderr, status 1."""
    from knowledge_base.articles import ArticleFormatError, load_markdown_dir
    from webhook.store import articles as article_store
    from webhook.store.database import Database, migrate

    source = kb if kb is not None else folder
    assert source is not None
    try:
        if kb is not None:
            articles, note = _read_kb_jsonl(kb), "import kb.jsonl"
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


def _export_articles(folder: Path, status: str, overwrite: bool) -> int:
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


def _prepare() -> int:
    """Migrate, seed the demo help centre, build the index (with a progress bar), calibrate."""
    from knowledge_base.index import VectorIndex
    from knowledge_base.search import index_stamp
    from webhook.app import load_knowledge_base, seed_articles
    from webhook.store.database import Database, migrate

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            articles = await seed_articles(settings, db)
            current = VectorIndex.saved_stamp(settings.kb_index_dir) == (
                index_stamp(settings.kb_model, articles),
                settings.kb_model,
            )
            needs_calibration = not settings.kb_calibration_file.exists() and settings.kb_calibration_questions.exists()
            if current and not needs_calibration:
                return f"index up to date: {len(articles)} article translations"
            kb = await load_knowledge_base(settings, db, progress=True)
            report = f"knowledge base ready: {len(kb.articles)} article translations indexed"
            if needs_calibration:
                report += "\n" + _calibrate_with(kb, settings.kb_calibration_questions, settings.kb_calibration_file)
            return report
        finally:
            await db.dispose()

    print(asyncio.run(go()))
    return 0


def _calibrate_with(kb, questions_path: Path, target: Path) -> str:  # type: ignore[no-untyped-def]
    from knowledge_base.calibration import calibrate_knowledge_base
    from knowledge_base.evaluation import load_questions

    record = calibrate_knowledge_base(kb, load_questions(questions_path), target, source=str(questions_path))
    m = record["metrics"]
    summary = ", ".join(f"{k} {m[k]:.3f}" for k in ("top1", "in_scope_accuracy", "oos_recall") if k in m)
    return (
        f"calibrated on {questions_path.name}: weights {record['weights']}, "
        f"thresholds {record['thresholds']} ({summary}) -> {target}"
    )


def _calibrate(questions: Path | None) -> int:
    from webhook.app import load_knowledge_base
    from webhook.store.database import Database, migrate

    settings = get_settings()
    migrate(settings.database_url)
    source = questions or settings.kb_calibration_questions

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            kb = await load_knowledge_base(settings, db)
            return _calibrate_with(kb, source, settings.kb_calibration_file)
        finally:
            await db.dispose()

    print(asyncio.run(go()))
    return 0


def _read_password() -> str | None:
    """The password when --password is not given: asked twice on a terminal, else stdin's first line."""
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise SystemExit("error: the two passwords differ")  # status 1
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n") or None


def _create_user(args: argparse.Namespace) -> int:
    """Add a console user (or, with --update, change one); errors go to stderr with status 1."""
    from webhook.store import users as user_store
    from webhook.store.database import Database, migrate

    password = args.password if args.password is not None else _read_password()
    if not password:
        print("error: no password: give --password or one line on standard input", file=sys.stderr)
        return 1
    try:
        user_store.check_username(args.username)
        user_store.check_password_strength(password)
    except user_store.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                existing = await user_store.find_user(session, args.username) if args.update else None
                if existing is not None:
                    user = await user_store.update_user(
                        session,
                        existing.username,
                        password=password,
                        role=args.role,
                        display_name=args.display_name,
                        is_active=True,
                    )
                    verb = "updated"
                else:
                    user = await user_store.create_user(session, args.username, password, args.role, args.display_name)
                    verb = "created"
                await session.commit()
                return f"{verb} {user.role.value} {user.username!r} (shown to customers as {user.display_name!r})"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(go()))
    except user_store.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webhook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the web service and Rasa; Ctrl-C stops both")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("prepare", help="migrate, seed the demo help centre, build the index")
    cal = sub.add_parser("calibrate", help="calibrate the fusion weights and decision thresholds on labelled questions")
    cal.add_argument("--questions", type=Path, help="JSONL: text, expected (article key or null), lang")
    imp = sub.add_parser(
        "import-articles",
        help="import a folder of Markdown articles, or a kb.jsonl file",
        description="Import articles as new versions of the translations whose content changed, "
        "in one transaction: a folder of Markdown files with front matter (<key>/<lang>.md), "
        "or with --kb a kb.jsonl file in the evaluation format (shared/eval/FORMAT.md).",
    )
    imp.add_argument("folder", type=Path, nargs="?", help="a folder of Markdown articles")
    imp.add_argument("--kb", type=Path, metavar="FILE.jsonl", help="a kb.jsonl file instead of a folder")
    mode = imp.add_mutually_exclusive_group()
    mode.add_argument("--publish", dest="publish", action="store_true", default=True, help="make them live (default)")
    mode.add_argument("--draft", dest="publish", action="store_false", help="save them as drafts")
    exp = sub.add_parser(
        "export-articles",
        help="write the articles to a folder of Markdown files (<key>/<lang>.md)",
        description="Write each translation to DIR/<key>/<lang>.md with YAML front matter, "
        "the format import-articles reads.",
    )
    exp.add_argument("folder", type=Path, metavar="DIR")
    exp.add_argument(
        "--status",
        choices=["published", "all"],
        default="published",
        help="published: the live version of each live translation (default); all: each translation's "
        "latest version, drafts and archived ones included, with status: and version: in the front matter",
    )
    exp.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    user = sub.add_parser(
        "create-user",
        help="add a user of the agent console",
        description="Add a user of the agent console. Without --password, the password is read from "
        "standard input (its first line), or asked for on a terminal.",
    )
    user.add_argument("--username", required=True, help="1-64 characters: letters, digits, '_', '.', '-'")
    user.add_argument("--role", required=True, choices=["agent", "editor", "admin"])
    user.add_argument("--password", help="at least 8 characters (visible to other local users: prefer stdin)")
    user.add_argument("--display-name", help="the name customers see (default: the username)")
    user.add_argument(
        "--update",
        action="store_true",
        help="if the user exists, set its password, role (and display name) instead, and end its sign-ins",
    )
    args = parser.parse_args(argv)

    if args.command == "run":
        from webhook.runtime.launcher import run

        return run(get_settings())
    if args.command == "migrate":
        from webhook.store.database import migrate

        migrate(get_settings().database_url)
        return 0
    if args.command == "prepare":
        return _prepare()
    if args.command == "calibrate":
        return _calibrate(args.questions)
    if args.command == "create-user":
        return _create_user(args)
    if args.command == "export-articles":
        return _export_articles(args.folder, args.status, args.overwrite)
    if (args.folder is None) == (args.kb is None):
        imp.error("give a FOLDER or --kb FILE.jsonl (one of them)")
    return _import_articles(args.folder, args.kb, args.publish)
