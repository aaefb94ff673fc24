"""What the commands that change data share: the configured database, and who the audit log says acted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from webhook.settings import get_settings

if TYPE_CHECKING:
    from webhook.store.database import Database

T = TypeVar("T")
CLI_ACTOR = "cli"  # who the audit log says did what a command did


def with_database(work: Callable[[Database], Awaitable[T]]) -> T:
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
