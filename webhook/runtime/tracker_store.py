"""Rasa's tracker store, seen from our side: erasing the trackers of conversations we erase.

Rasa keeps every conversation's events in its SQL tracker store (``bot/endpoints.yml``:
``type: SQL``), table ``events``, one row per event, keyed by ``sender_id``, which is our
conversation id (:mod:`webhook.services.conversations`). Rasa reads a tracker from that
table at every turn, so deleting the rows is deleting the tracker. This goes through
SQLAlchemy with a plain URL, so it works the same when the tracker store moves from
SQLite (``RASA_TRACKER_DB``) to PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import column, create_engine, delete, func, inspect, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from webhook.domain.errors import TrackerStoreUnavailable

EVENTS = table("events", column("sender_id"))
# Sender ids per DELETE: well under SQLite's 999 bound parameters.
_BATCH = 500


def tracker_store_url(location: str | Path) -> URL:
    """A URL for ``location``: a database URL as it is, else the path of Rasa's SQLite file."""
    text = str(location)
    return make_url(text) if "://" in text else make_url(f"sqlite:///{Path(text).resolve()}")


def _exists(url: URL) -> bool:
    """Whether there is a store to look in: an SQLite file that is not there is not created here."""
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and Path(str(url.database)).is_file()


def _plain(url: URL) -> URL:
    # our PostgreSQL driver is psycopg 3; Rasa's own URL may name another
    return url.set(drivername="postgresql+psycopg") if url.get_backend_name() == "postgresql" else url


def _run(url: URL, sender_ids: Sequence[str], erase: bool) -> int:
    if not sender_ids or not _exists(url):
        return 0
    connect_args = {"timeout": 30} if url.get_backend_name() == "sqlite" else {}  # Rasa may be writing
    engine = create_engine(_plain(url), connect_args=connect_args, hide_parameters=True)  # no ids in error logs
    try:
        if not inspect(engine).has_table("events"):
            return 0  # Rasa has not stored a tracker yet
        total = 0
        with engine.begin() as connection:
            for start in range(0, len(sender_ids), _BATCH):
                batch = list(sender_ids[start : start + _BATCH])
                where = EVENTS.c.sender_id.in_(batch)
                if erase:
                    total += connection.execute(delete(EVENTS).where(where)).rowcount
                else:
                    total += connection.scalar(select(func.count()).select_from(EVENTS).where(where)) or 0
        return total
    except SQLAlchemyError as exc:
        # the message names the store, never the sender ids or what the events hold
        store = url.render_as_string(hide_password=True)
        raise TrackerStoreUnavailable(f"Rasa's tracker store at {store} failed: {type(exc).__name__}") from None
    finally:
        engine.dispose()


async def erase_trackers(location: str | Path, sender_ids: Sequence[str]) -> int:
    """Delete every event of these senders; returns how many rows went. Raises TrackerStoreUnavailable."""
    return await asyncio.to_thread(_run, tracker_store_url(location), list(sender_ids), True)


async def count_tracker_events(location: str | Path, sender_ids: Sequence[str]) -> int:
    """How many events these senders have (a dry run's figure)."""
    return await asyncio.to_thread(_run, tracker_store_url(location), list(sender_ids), False)
