"""``run``, ``migrate`` and ``prepare``: getting the service's database and index ready, and starting it."""

from __future__ import annotations

import argparse
import asyncio

from webhook.cli.knowledge import calibrate_with
from webhook.settings import get_settings


def run_service(_args: argparse.Namespace) -> int:
    from webhook.runtime.launcher import run

    return run(get_settings())


def migrate_database(_args: argparse.Namespace) -> int:
    from webhook.store.database import migrate

    migrate(get_settings().database_url)
    return 0


def prepare() -> int:
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
                report += "\n" + calibrate_with(kb, settings.kb_calibration_questions, settings.kb_calibration_file)
            return report
        finally:
            await db.dispose()

    print(asyncio.run(go()))
    return 0
