"""Command line: ``python -m webhook run|migrate|import-articles``."""

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
    return _import_articles(args.folder)


if __name__ == "__main__":
    sys.exit(main())
