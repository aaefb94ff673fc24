"""What the privacy tests of the service and stack tiers share: Rasa's tracker store, and scans for traces.

A scan reads every column of every table (the tables are reflected from the database,
never listed by hand), so a table added later is scanned too.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, insert, select

from webhook.store.database import sync_url

# The table Rasa's SQLTrackerStore creates (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent).
_RASA = MetaData()
RASA_EVENTS = Table(
    "events",
    _RASA,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def add_tracker_events(path: Path, sender_id: str, texts: Iterable[str]) -> None:
    """Rows as Rasa writes them for a user turn and the bot's answer: the event's JSON in ``data``."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        _RASA.create_all(engine)
        with engine.begin() as connection:
            for text in texts:
                now = time.time()
                user = {"event": "user", "timestamp": now, "text": text, "parse_data": {"text": text}}
                bot = {"event": "bot", "timestamp": now, "text": f"You said: {text}"}
                for event, name in ((user, None), (bot, None)):
                    connection.execute(
                        insert(RASA_EVENTS).values(
                            sender_id=sender_id,
                            type_name=event["event"],
                            timestamp=now,
                            action_name=name,
                            data=json.dumps(event, ensure_ascii=False),
                        )
                    )
    finally:
        engine.dispose()


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def scan(url: str, needles: Iterable[str]) -> list[str]:
    """Every ``table.column`` whose value holds one of ``needles``: every column of every table, reflected."""
    wanted = [n for n in needles if n]
    engine = create_engine(url)
    found: list[str] = []
    try:
        metadata = MetaData()
        with warnings.catch_warnings():  # an expression-based index (lower(username)) is not reflected: no matter
            warnings.simplefilter("ignore")
            metadata.reflect(bind=engine)
        assert metadata.tables, f"no tables in {url}"
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    for column, value in zip(table.columns, row, strict=True):
                        text = "" if value is None else _text(value)
                        found += [f"{table.name}.{column.name}: {n!r}" for n in wanted if n in text]
    finally:
        engine.dispose()
    return found


def scan_database(database_url: str, needles: Iterable[str]) -> list[str]:
    return scan(sync_url(database_url).render_as_string(hide_password=False), needles)


def scan_tracker_store(path: Path, needles: Iterable[str]) -> list[str]:
    return scan(f"sqlite:///{path}", needles)


def tracker_senders(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(RASA_EVENTS.c.sender_id).distinct()))
    finally:
        engine.dispose()
