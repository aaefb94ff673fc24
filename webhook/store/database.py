"""The database handle: one async engine for the app, Alembic for the schema.

The URL is given in its plain form (``sqlite:///path`` or
``postgresql://user@host/db``); the drivers are chosen here: aiosqlite and
psycopg 3, which serves both the async app and synchronous Alembic.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from webhook.domain.errors import DatabaseURLError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _with_driver(url: str, sync: bool) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite" if sync else "sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def async_url(url: str) -> URL:
    return _with_driver(url, sync=False)


def sync_url(url: str) -> URL:
    return _with_driver(url, sync=True)


def _prepare_sqlite_file(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the agent console read while a message is written; FKs are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """Engine plus session factory; ``session()`` is the unit of work.

    The engine hides statement parameters in its errors (``hide_parameters``): a failed
    statement's parameters are customers' messages, names and addresses, and an error's
    text ends up in logs.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        target = async_url(url)
        if target.get_backend_name() == "sqlite":
            _prepare_sqlite_file(target)
            self.engine: AsyncEngine = create_async_engine(target, hide_parameters=True)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                target, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
            )
        self.session = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)

    async def dispose(self) -> None:
        await self.engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` with Alembic (safe to call at every start)."""
    from alembic import command
    from alembic.config import Config

    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", target.render_as_string(hide_password=False).replace("%", "%%"))
    command.upgrade(config, revision)
