"""Commands: ``python -m webhook run|migrate|prepare|calibrate|import-articles|export-articles|create-user``,
and the privacy commands ``export-customer|erase-customer|retention``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from webhook.settings import get_settings

if TYPE_CHECKING:
    from knowledge_base.articles import ArticleSet
    from webhook.store.database import Database

T = TypeVar("T")
CLI_ACTOR = "cli"  # who the audit log says did what a command did


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
                        actor=CLI_ACTOR,
                    )
                    verb = "updated"
                else:
                    user = await user_store.create_user(
                        session, args.username, password, args.role, args.display_name, actor=CLI_ACTOR
                    )
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


def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Migrate, then run ``work`` on the configured database and close it."""
    from webhook.store.database import Database, migrate

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _export_customer(args: argparse.Namespace) -> int:
    """Everything we hold about one customer, as JSON on stdout or in a file; recorded in the audit log."""
    from webhook.domain.errors import CustomerNotFound
    from webhook.services.customer_data import CustomerData

    tracker = get_settings().rasa_tracker_db
    try:
        export = _with_database(lambda db: CustomerData(db, tracker).export(args.ref, CLI_ACTOR))
    except CustomerNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = export.model_dump_json(indent=2)
    if args.output is None:
        print(text)
        return 0
    args.output.write_text(text + "\n", encoding="utf-8")
    print(f"wrote customer {export.customer.id} ({len(export.conversations)} conversations) to {args.output}")
    return 0


def _confirmed(question: str) -> bool:
    """Asked on a terminal; a script (no terminal) is taken to mean it."""
    if sys.stdin is None or not sys.stdin.isatty():
        return True
    return input(f"{question} [y/N] ").strip().lower() == "y"


def _erase_customer(args: argparse.Namespace) -> int:
    """Erase one customer everywhere (asks first on a terminal, unless --yes); prints the rows per table."""
    from webhook.domain.errors import CustomerNotFound, TrackerStoreUnavailable
    from webhook.services.customer_data import CustomerData

    if not args.yes and not _confirmed(f"Erase the customer {args.ref!r} everywhere? This cannot be undone."):
        print("nothing was erased", file=sys.stderr)
        return 1
    tracker = get_settings().rasa_tracker_db
    try:
        report = _with_database(lambda db: CustomerData(db, tracker).erase(args.ref, CLI_ACTOR))
    except (CustomerNotFound, TrackerStoreUnavailable) as exc:
        print(f"error: {exc}; nothing was erased", file=sys.stderr)
        return 1
    print(report.model_dump_json(indent=2))
    return 0


def _retention(args: argparse.Namespace) -> int:
    """Erase (or with --dry-run count) what is older than RETENTION_DAYS, as the daily task does."""
    from webhook.domain.errors import TrackerStoreUnavailable
    from webhook.services.retention import Retention

    settings = get_settings()
    days = args.days if args.days is not None else settings.retention_days
    if days <= 0:
        print("error: retention is off: set RETENTION_DAYS (or give --days N)", file=sys.stderr)
        return 1
    try:
        report = _with_database(
            lambda db: Retention(db, settings.rasa_tracker_db, days).run(dry_run=args.dry_run, actor=CLI_ACTOR)
        )
    except TrackerStoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.model_dump_json(indent=2))
    return 0


def _add_article_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    imp.set_defaults(usage_error=imp.error)
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


def _add_user_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


CUSTOMER_REF = (
    "the customer: our customer id, a conversation id, telegram:<user id>, web:<session token>, "
    "web:user:<verified id>, or an e-mail address a verified identity carries"
)


def _add_privacy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exp = sub.add_parser("export-customer", help="everything we hold about one customer, as JSON")
    exp.add_argument("ref", help=CUSTOMER_REF)
    exp.add_argument("--output", "-o", type=Path, metavar="FILE", help="write it to FILE instead of stdout")
    erase = sub.add_parser(
        "erase-customer",
        help="erase one customer everywhere: our tables and Rasa's tracker store",
        description="Erase one customer everywhere; their conversations stay only as anonymous counts. "
        "Recorded in the audit log (rows per table, no data).",
    )
    erase.add_argument("ref", help=CUSTOMER_REF)
    erase.add_argument("--yes", action="store_true", help="do not ask first (on a terminal it asks)")
    keep = sub.add_parser("retention", help="erase conversations resolved more than RETENTION_DAYS ago, now")
    keep.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    keep.add_argument("--days", type=int, help="instead of RETENTION_DAYS")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m webhook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the web service and Rasa; Ctrl-C stops both")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("prepare", help="migrate, seed the demo help centre, build the index")
    cal = sub.add_parser("calibrate", help="calibrate the fusion weights and decision thresholds on labelled questions")
    cal.add_argument("--questions", type=Path, help="JSONL: text, expected (article key or null), lang")
    _add_article_commands(sub)
    _add_user_command(sub)
    _add_privacy_commands(sub)
    return parser


def _run(_args: argparse.Namespace) -> int:
    from webhook.runtime.launcher import run

    return run(get_settings())


def _migrate(_args: argparse.Namespace) -> int:
    from webhook.store.database import migrate

    migrate(get_settings().database_url)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "migrate": _migrate,
    "prepare": lambda _args: _prepare(),
    "calibrate": lambda args: _calibrate(args.questions),
    "create-user": _create_user,
    "export-articles": lambda args: _export_articles(args.folder, args.status, args.overwrite),
    "export-customer": _export_customer,
    "erase-customer": _erase_customer,
    "retention": _retention,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler = HANDLERS.get(args.command)
    if handler is not None:
        return handler(args)
    # import-articles
    if (args.folder is None) == (args.kb is None):
        args.usage_error("give a FOLDER or --kb FILE.jsonl (one of them)")
    return _import_articles(args.folder, args.kb, args.publish)
