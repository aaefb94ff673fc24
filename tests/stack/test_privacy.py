"""Erasure against the running product: a real conversation with the real Rasa, erased, then nothing left.

The customer's words reach Rasa's own tracker store (``RASA_TRACKER_DB``, Rasa's SQL
tracker on SQLite); after ``DELETE /api/admin/customers/web:<session>`` neither that
store nor our database holds them, nor the conversation's sender id.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.privacy_support import scan_database, scan_tracker_store, tracker_senders
from tests.stack.test_agent_api import create_user, login


def test_erasing_a_customer_clears_rasas_tracker_store_too(stack) -> None:  # type: ignore[no-untyped-def]
    tracker = Path(stack.database_url.removeprefix("sqlite:///")).parent / "rasa-tracker.db"
    marker = f"zq{uuid.uuid4().hex[:12]}"
    session = uuid.uuid4().hex
    first = stack.chat(session, f"How do I return an item? My code is {marker}")
    assert first.status_code == 200, first.text
    conversation_id = first.json()["conversation_id"]
    assert stack.chat(session, f"and what about {marker} shoes").status_code == 200
    # what is erased must be there first: Rasa stored the customer's words under the conversation's id
    assert conversation_id in tracker_senders(tracker)
    assert scan_tracker_store(tracker, [marker])
    assert scan_database(stack.database_url, [marker])

    admin = login(stack, create_user(stack, "admin"))
    erased = httpx.delete(f"{stack.base_url}/api/admin/customers/web:{session}", headers=admin, timeout=60)
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["tracker_events"] > 0 and erased.json()["deleted"]["messages"] >= 4

    assert scan_tracker_store(tracker, [marker, conversation_id]) == []
    assert scan_database(stack.database_url, [marker]) == []
    again = httpx.delete(f"{stack.base_url}/api/admin/customers/web:{session}", headers=admin, timeout=60)
    assert again.status_code == 404
    # the same browser starts afresh, and Rasa answers it
    fresh = stack.chat(session, "How do I return an item?")
    assert fresh.status_code == 200 and fresh.json()["conversation_id"] != conversation_id
