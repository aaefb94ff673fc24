"""Command line: ``python -m webhook run|migrate|prepare|calibrate|import-articles|create-user``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from webhook.settings import get_settings


def _import_articles(folder: Path) -> int:
    from knowledge_base.articles import load_markdown_dir
    from webhook.store import articles as article_store
    from webhook.store.database import Database, migrate

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> tuple[int, int]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                counts = await article_store.import_articles(session, load_markdown_dir(folder))
                await session.commit()
                return counts
        finally:
            await db.dispose()

    added, updated = asyncio.run(go())
    print(f"imported {folder}: {added} added, {updated} updated")
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
    return f"calibrated on {questions_path.name}: {record['thresholds']} ({summary}) -> {target}"


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
    cal = sub.add_parser("calibrate", help="calibrate the decision thresholds on labelled questions")
    cal.add_argument("--questions", type=Path, help="JSONL: text, expected (article key or null), lang")
    imp = sub.add_parser("import-articles", help="import a folder of Markdown articles")
    imp.add_argument("folder", type=Path)
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
        from webhook.launcher import run

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
    return _import_articles(args.folder)


if __name__ == "__main__":
    sys.exit(main())
