"""Alembic environment: the URL comes from webhook.store.database.migrate()."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from webhook.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # hide_parameters: a data migration's failed statement may carry customers' text; errors reach logs
    url = str(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    with engine.connect() as connection:
        # batch mode lets later migrations alter tables on SQLite too
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
