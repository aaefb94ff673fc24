"""Export, erasure and retention of customers' data (docs/security.md), on SQLite and PostgreSQL.

Each customer is written with marker strings everywhere we keep something of them:
their name, a Telegram user id, an e-mail a verified identity carries, message texts
(an undelivered reply in the outbox too), an agent's note, a CSAT comment, a
handoff's detail, a link code, a raw Telegram update, a learnt question, and Rasa's
tracker store (a real SQLite file with Rasa's ``events`` table). After an erasure
every column of every table, and the tracker store, is scanned for the markers.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.privacy_support import add_tracker_events, scan_database, scan_tracker_store, tracker_senders
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.domain.errors import CustomerNotFound, TrackerStoreUnavailable
from webhook.services.customer_data import CustomerData
from webhook.services.retention import Retention
from webhook.settings import Settings
from webhook.store import audit
from webhook.store import users as user_store
from webhook.store.customer_data import ANONYMOUS_CUSTOMER_ID
from webhook.store.database import Database
from webhook.store.schema import (
    AgentNote,
    AuditEvent,
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    CsatResponse,
    Customer,
    Deflection,
    HandoffRequest,
    LinkCode,
    Message,
    QuestionSuggestion,
    TelegramUpdate,
)

NOW = datetime.now(UTC)


@dataclass
class Person:
    """A customer written with markers; ``markers`` are strings that must vanish with them."""

    customer_id: str
    token: str  # in every text marker
    telegram_id: str
    email: str
    name: str
    resolved_id: str
    open_id: str

    @property
    def markers(self) -> list[str]:
        return [self.token, self.telegram_id, self.email, self.name]


async def seed(db: Database, tracker: Path, label: str, agent_id: int | None = None) -> Person:
    token = f"zq{label}{uuid.uuid4().hex[:10]}"
    telegram_id = str(random.randint(10**11, 10**12 - 1))  # no collision with any other number here
    person = Person("", token, telegram_id, f"{token}@mail.example", f"Name {token}", "", "")
    async with db.session() as s:
        customer = Customer(display_name=person.name, language="en")
        s.add(customer)
        await s.flush()
        person.customer_id = customer.id
        s.add(ChannelIdentity(customer_id=customer.id, channel=Channel.TELEGRAM, external_id=telegram_id))
        s.add(ChannelIdentity(customer_id=customer.id, channel=Channel.WEB, external_id=f"user:{person.email}"))
        resolved = Conversation(
            customer_id=customer.id,
            status=ConversationStatus.RESOLVED,
            channel=Channel.TELEGRAM,
            language="en",
            agent_id=agent_id,
            resolved_at=NOW,
            resolved_by="agent",
        )
        still_open = Conversation(customer_id=customer.id, status=ConversationStatus.WAITING_FOR_AGENT, language="en")
        s.add_all([resolved, still_open])
        await s.flush()
        person.resolved_id, person.open_id = resolved.id, still_open.id

        def message(conversation: Conversation, sender: Sender, text: str, delivered: bool = True) -> Message:
            return Message(
                conversation_id=conversation.id,
                sender=sender,
                channel=Channel.TELEGRAM,
                text=text,
                payload={"kb": {"query": text, "decision": "decline", "candidates": []}},
                client_message_id=f"tg:{token}:{uuid.uuid4().hex[:6]}",
                external_id=telegram_id,
                delivered_at=NOW if delivered else None,
            )

        s.add_all(
            [
                message(resolved, Sender.CUSTOMER, f"where is my parcel {token}-text"),
                message(resolved, Sender.AGENT, f"on its way, {person.name}"),
                message(still_open, Sender.CUSTOMER, f"a second question {token}-open"),
                message(still_open, Sender.BOT, f"an answer waiting for Telegram {token}-outbox", delivered=False),
                AgentNote(conversation_id=resolved.id, author="Alice", text=f"called {person.name} about {token}"),
                HandoffRequest(conversation_id=resolved.id, reason="frustration", detail={"signals": [f"{token}!!"]}),
                ConversationEvent(conversation_id=resolved.id, kind="handoff", actor="bot", detail={"q": token}),
                CsatResponse(
                    conversation_id=resolved.id,
                    resolver="agent",
                    agent_id=agent_id,
                    channel=Channel.TELEGRAM,
                    language="en",
                    rating=2,
                    comment=f"slow, {token}-comment",
                ),
                Deflection(conversation_id=resolved.id, customer_id=customer.id, status="reverted", articles=["ship"]),
                LinkCode(
                    code_hash=uuid.uuid4().hex * 2,
                    customer_id=customer.id,
                    conversation_id=resolved.id,
                    target=Channel.WEB,
                    expires_at=NOW,
                    used_by=telegram_id,
                ),
                TelegramUpdate(
                    update_id=random.randint(1, 2**40),
                    payload={
                        "update_id": 1,
                        "message": {
                            "message_id": 7,
                            "from": {"id": int(telegram_id), "is_bot": False, "first_name": person.name},
                            "chat": {"id": int(telegram_id), "type": "private"},
                            "text": f"where is my parcel {token}-text",
                        },
                    },
                    received_at=NOW,
                    processed_at=NOW,
                ),
                QuestionSuggestion(
                    key="shipping",
                    lang="en",
                    text=f"where is my parcel {token}",
                    normalized=f"where is my parcel {token}",
                    confirmed=1,
                    evidence=[[resolved.id, "confirmed"]],
                ),
            ]
        )
        await s.commit()
    for conversation_id in (person.resolved_id, person.open_id):
        add_tracker_events(tracker, conversation_id, [f"where is my parcel {token}-rasa", person.email])
    return person


@pytest.fixture
def tracker(tmp_path: Path) -> Path:
    return tmp_path / "rasa-tracker.db"


@pytest.fixture
async def people(db: Database, tracker: Path) -> tuple[Person, Person]:
    """Two customers: the one to erase, and another whose data must stay as it is."""
    return await seed(db, tracker, "a"), await seed(db, tracker, "b")


async def shared_suggestion(db: Database, mine: str, theirs: str) -> int:
    """A question two customers asked in their own words: the first wording is ``mine``'s."""
    async with db.session() as s:
        row = QuestionSuggestion(
            key="returns",
            lang="en",
            text="How do I RETURN shoes?!",
            normalized="how do i return shoes",
            chosen=2,
            evidence=[[mine, "chosen"], [theirs, "chosen"]],
        )
        s.add(row)
        await s.commit()
        return row.id


def _without_time(export: Any) -> dict[str, Any]:
    data: dict[str, Any] = export.model_dump(mode="json")
    data.pop("exported_at")
    return data


# -- export ---------------------------------------------------------------------------
async def test_the_export_holds_every_marker(db: Database, tracker: Path, people: tuple[Person, Person]) -> None:
    me, other = people
    export = await CustomerData(db, tracker).export(f"telegram:{me.telegram_id}", "cli")
    text = export.model_dump_json()
    for marker in [
        *me.markers,
        f"{me.token}-text",
        f"{me.token}-open",
        f"{me.token}-outbox",
        f"{me.token}-comment",
        f"{me.token}!!",
        f"where is my parcel {me.token}",
    ]:
        assert marker in text, marker
    assert other.token not in text
    assert export.customer.id == me.customer_id
    assert {c.id for c in export.conversations} == {me.resolved_id, me.open_id}
    resolved = next(c for c in export.conversations if c.id == me.resolved_id)
    assert [n.text for n in resolved.notes] == [f"called {me.name} about {me.token}"]
    assert resolved.csat is not None and resolved.csat.rating == 2
    assert len(export.deflections) == len(export.link_codes) == len(export.telegram_updates) == 1
    assert export.suggestions[0].evidence == [[me.resolved_id, "confirmed"]]


@pytest.mark.parametrize("form", ["customer", "conversation", "telegram", "email", "verified", "verified-web"])
async def test_a_customer_is_found_by_any_reference(
    db: Database, tracker: Path, people: tuple[Person, Person], form: str
) -> None:
    me, _ = people
    ref = {
        "customer": me.customer_id,
        "conversation": me.open_id,
        "telegram": f"telegram:{me.telegram_id}",
        "email": me.email.upper(),
        "verified": f"user:{me.email}",
        "verified-web": f"web:user:{me.email}",
    }[form]
    export = await CustomerData(db, tracker).export(ref, "cli")
    assert export.customer.id == me.customer_id


async def test_a_web_session_is_found_by_its_token_or_its_stored_key(db: Database, tracker: Path) -> None:
    """The web channel stores a session token only as its SHA-256; an admin may give either."""
    from webhook.domain.identity import session_key

    async with db.session() as s:
        customer = Customer()
        s.add(customer)
        s.add(ChannelIdentity(customer=customer, channel=Channel.WEB, external_id=session_key("session-token-1")))
        await s.commit()
    data = CustomerData(db, tracker)
    by_token = await data.export("web:session-token-1", "cli")
    by_key = await data.export(f"web:{session_key('session-token-1')}", "cli")
    assert by_token.customer.id == by_key.customer.id == customer.id
    assert by_token.identities[0].external_id == session_key("session-token-1")  # the token itself is nowhere
    for ref in ("web:session-token-3", "telegram:1", "nobody@mail.example", "", "x" * 400, ANONYMOUS_CUSTOMER_ID):
        with pytest.raises(CustomerNotFound):
            await data.export(ref, "cli")


# -- erasure --------------------------------------------------------------------------
async def test_erasure_leaves_no_trace(
    db: Database, database_url: str, tracker: Path, people: tuple[Person, Person]
) -> None:
    me, other = people
    shared = await shared_suggestion(db, me.resolved_id, other.resolved_id)
    data = CustomerData(db, tracker)
    other_before = _without_time(await data.export(other.customer_id, "cli"))

    report = await data.erase(f"telegram:{me.telegram_id}", "cli")

    assert scan_database(database_url, me.markers) == []
    assert scan_tracker_store(tracker, [*me.markers, me.resolved_id, me.open_id]) == []
    assert report.deleted == {
        "agent_notes": 1,
        "channel_identities": 2,
        "customers": 1,
        "link_codes": 1,
        "messages": 4,
        "outbox": 1,
        "question_suggestions": 1,
        "telegram_updates": 1,
        "tracker_events": 8,
    }
    assert report.anonymised == {
        "conversation_events": 1,
        "conversations": 2,
        "csat_responses": 1,
        "deflections": 1,
        "handoff_requests": 1,
        "question_suggestions": 1,
    }
    # the other customer is untouched, their trackers too
    after = _without_time(await data.export(other.customer_id, "cli"))
    assert {k: v for k, v in after.items() if k != "suggestions"} == {
        k: v for k, v in other_before.items() if k != "suggestions"
    }
    assert scan_database(database_url, other.markers)
    assert tracker_senders(tracker) == {other.resolved_id, other.open_id}
    # a question others asked too stays, with their evidence and in the wording every source shares
    async with db.session() as s:
        row = await s.get(QuestionSuggestion, shared)
        assert row is not None
        assert (row.text, row.chosen, row.evidence) == ("how do i return shoes", 1, [[other.resolved_id, "chosen"]])


async def test_erased_conversations_keep_only_anonymous_figures(
    db: Database, tracker: Path, people: tuple[Person, Person]
) -> None:
    me, _ = people
    await CustomerData(db, tracker).erase(me.customer_id, "cli")
    async with db.session() as s:
        resolved = await s.get(Conversation, me.resolved_id)
        still_open = await s.get(Conversation, me.open_id)
        csat = await s.scalar(select(CsatResponse).where(CsatResponse.conversation_id == me.resolved_id))
        handoff = await s.scalar(select(HandoffRequest).where(HandoffRequest.conversation_id == me.resolved_id))
        deflection = await s.scalar(select(Deflection).where(Deflection.conversation_id == me.resolved_id))
        anonymous = await s.get(Customer, ANONYMOUS_CUSTOMER_ID)
        identities = await s.scalar(
            select(func.count())
            .select_from(ChannelIdentity)
            .where(ChannelIdentity.customer_id == ANONYMOUS_CUSTOMER_ID)
        )
    assert resolved is not None and still_open is not None and csat is not None and handoff is not None
    assert resolved.customer_id == still_open.customer_id == ANONYMOUS_CUSTOMER_ID
    assert (resolved.status, resolved.resolved_by) == (ConversationStatus.RESOLVED, "agent")
    assert (still_open.status, still_open.resolved_by) == (ConversationStatus.RESOLVED, "erased")
    assert (csat.rating, csat.comment) == (2, None)
    assert (handoff.reason, handoff.detail) == ("frustration", None)
    assert deflection is not None and deflection.customer_id == ANONYMOUS_CUSTOMER_ID
    assert anonymous is not None and anonymous.display_name is None and identities == 0


async def test_the_agents_consoles_hear_of_an_erasure_at_once(
    db: Database, tracker: Path, people: tuple[Person, Person]
) -> None:
    from webhook.runtime.events import AGENTS_TOPIC, LocalBus

    me, _ = people
    bus = LocalBus()
    consoles = bus.subscribe(AGENTS_TOPIC)
    await CustomerData(db, tracker, bus=bus).erase(me.customer_id, "cli")
    heard = {(await asyncio.wait_for(consoles.get(), 10))["conversation_id"] for _ in range(2)}
    assert heard == {me.resolved_id, me.open_id}


async def test_an_agent_opening_an_erased_conversation_sees_nobody(
    db: Database, tracker: Path, people: tuple[Person, Person], rasa: Any
) -> None:
    from webhook.services.agents import AgentService
    from webhook.services.conversations import ConversationService

    me, other = people
    await CustomerData(db, tracker).erase(me.customer_id, "cli")
    await CustomerData(db, tracker).erase(other.customer_id, "cli")
    packet = await AgentService(ConversationService(db, rasa)).packet(me.resolved_id)
    assert packet.transcript == [] and packet.notes == [] and packet.summary.question is None
    assert (packet.customer.name, packet.customer.channels, packet.customer.earlier) == (None, [], [])


async def test_erasing_twice_is_not_found_and_is_audited_once(
    db: Database, tracker: Path, people: tuple[Person, Person]
) -> None:
    me, _ = people
    data = CustomerData(db, tracker)
    report = await data.erase(me.email, "root-admin")
    with pytest.raises(CustomerNotFound):
        await data.erase(me.email, "root-admin")
    with pytest.raises(CustomerNotFound):
        await data.export(me.resolved_id, "root-admin")
    async with db.session() as s:
        events = await audit.events(s, action="customer.")
    assert [(e.action, e.actor, e.target) for e in events] == [
        ("customer.erased", "root-admin", f"customer:{me.customer_id}")
    ]
    assert events[0].detail == {"deleted": report.deleted, "anonymised": report.anonymised}


async def test_when_the_tracker_store_fails_nothing_is_erased(
    db: Database, tracker: Path, people: tuple[Person, Person]
) -> None:
    me, _ = people
    tracker.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(TrackerStoreUnavailable):
        await CustomerData(db, tracker).erase(me.customer_id, "cli")
    export = await CustomerData(db, tracker.parent / "absent.db").export(me.customer_id, "cli")
    assert len(export.conversations) == 2 and len(export.conversations[0].messages) == 2


# -- retention ------------------------------------------------------------------------
async def conversation_resolved(db: Database, tracker: Path, days_ago: float | None, label: str) -> tuple[str, str]:
    """A customer with one conversation, resolved ``days_ago`` (None: still open); (customer id, conversation id)."""
    when = NOW - timedelta(days=days_ago if days_ago is not None else 40)
    async with db.session() as s:
        customer = Customer(display_name=label, created_at=when - timedelta(days=1))
        s.add(customer)
        await s.flush()
        s.add(ChannelIdentity(customer_id=customer.id, channel=Channel.WEB, external_id=label, last_seen_at=when))
        conversation = Conversation(customer_id=customer.id, created_at=when, status=ConversationStatus.BOT)
        if days_ago is not None:
            conversation.status, conversation.resolved_at, conversation.resolved_by = (
                ConversationStatus.RESOLVED,
                when,
                "bot",
            )
        s.add(conversation)
        await s.flush()
        s.add(Message(conversation_id=conversation.id, sender=Sender.CUSTOMER, channel=Channel.WEB, text=label))
        await s.commit()
    add_tracker_events(tracker, conversation.id, [label])
    return customer.id, conversation.id


async def test_retention_erases_what_is_older_than_the_limit_and_nothing_else(
    db: Database, database_url: str, tracker: Path
) -> None:
    old = await conversation_resolved(db, tracker, 31, "resolved-31-days-ago")
    kept = [
        await conversation_resolved(db, tracker, 29, "resolved-29-days-ago"),
        await conversation_resolved(db, tracker, None, "still-open"),
        await conversation_resolved(db, tracker, 1, "resolved-yesterday"),
    ]
    retention = Retention(db, tracker, days=30)

    preview = await retention.run(dry_run=True)
    assert (preview.conversations, preview.customers, preview.tracker_events) == (1, 1, 2)
    assert scan_database(database_url, ["resolved-31-days-ago"])  # a dry run changes nothing

    report = await retention.run(actor="cli")
    assert (report.conversations, report.customers, report.tracker_events) == (1, 1, 2)
    assert scan_database(database_url, ["resolved-31-days-ago"]) == []
    assert tracker_senders(tracker) == {conversation for _, conversation in kept}
    for label in ("resolved-29-days-ago", "still-open", "resolved-yesterday"):
        assert scan_database(database_url, [label]), label
    async with db.session() as s:
        assert await s.get(Customer, old[0]) is None
        skeleton = await s.get(Conversation, old[1])
        assert skeleton is not None and skeleton.customer_id == ANONYMOUS_CUSTOMER_ID
        for customer_id, conversation_id in kept:
            assert (await s.get(Conversation, conversation_id)).customer_id == customer_id  # type: ignore[union-attr]
        events = await audit.events(s, action="retention")
    assert sum(e.detail["conversations"] for e in events if e.detail) == 1
    assert {e.actor for e in events} == {"cli"}
    assert (await retention.run()).conversations == 0  # nothing left to do


async def test_the_daily_run_happens_once_whatever_the_number_of_workers(db: Database, tracker: Path) -> None:
    import asyncio

    await conversation_resolved(db, tracker, 40, "old-one")
    workers = [Retention(db, tracker, days=30) for _ in range(4)]
    reports = await asyncio.gather(*(w.run_daily(NOW) for w in workers))
    ran = [r for r in reports if r is not None]
    assert len(ran) == 1 and ran[0].conversations == 1
    assert await workers[0].run_daily(NOW) is None  # the same day again
    assert await workers[0].run_daily(NOW + timedelta(days=1)) is not None  # the next day runs


async def test_old_telegram_updates_go_with_retention(db: Database, tracker: Path) -> None:
    async with db.session() as s:
        for update_id, days, processed in ((1, 31, True), (2, 29, True), (3, 31, False)):
            when = NOW - timedelta(days=days)
            s.add(
                TelegramUpdate(
                    update_id=update_id, payload={}, received_at=when, processed_at=when if processed else None
                )
            )
        await s.commit()
    await Retention(db, tracker, days=30).run()
    async with db.session() as s:
        left = set(await s.scalars(select(TelegramUpdate.update_id)))
    assert left == {2, 3}  # an unprocessed update is never dropped


# -- the API --------------------------------------------------------------------------
@pytest.fixture
async def client(db: Database, tracker: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The product's app (routers, error handlers) on a test database, without the lifespan."""
    from webhook.app import create_app

    settings = Settings(database_url=db.url, rasa_tracker_db=tracker, retention_days=30, rate_limit_enabled=False)
    app = create_app(settings)
    app.state.db = db
    app.state.customer_data = CustomerData(db, tracker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


async def bearer(db: Database, client: httpx.AsyncClient, role: str) -> dict[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    async with db.session() as s:
        await user_store.create_user(s, name, "correct horse", role)
        await s.commit()
    response = await client.post("/api/agent/login", json={"username": name, "password": "correct horse"})
    client.cookies.clear()  # the header alone signs the requests in
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_the_api_exports_and_erases_for_admins_only(
    db: Database, tracker: Path, client: httpx.AsyncClient, people: tuple[Person, Person]
) -> None:
    me, _ = people
    admin, agent = await bearer(db, client, "admin"), await bearer(db, client, "agent")
    export_path, erase_path = (
        f"/api/admin/customers/telegram:{me.telegram_id}/export",
        f"/api/admin/customers/{me.email}",
    )
    assert (await client.get(export_path)).status_code == 401
    assert (await client.get(export_path, headers=agent)).status_code == 403
    assert (await client.delete(erase_path, headers=agent)).status_code == 403

    exported = await client.get(export_path, headers=admin)
    assert exported.status_code == 200 and exported.json()["customer"]["display_name"] == me.name
    erased = await client.delete(erase_path, headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["customers"] == 1 and erased.json()["customer_id"] == me.customer_id
    again = await client.delete(erase_path, headers=admin)
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    assert me.email not in again.text

    metrics = (await client.get("/api/metrics", headers=admin)).json()["privacy"]
    assert metrics == {
        "retention_days": 30,
        "erased_by_retention": 0,
        "customers_erased": 1,
        "last_retention_run": None,
    }
    async with db.session() as s:
        actions = [e.action for e in await audit.events(s, action="customer")]
        ips = {e.ip for e in await s.scalars(select(AuditEvent).where(AuditEvent.action.startswith("customer")))}
    assert actions == ["customer.erased", "customer.exported"] and ips == {"127.0.0.1"}


def test_the_cli_exports_and_erases(
    database_url: str, tracker: Path, people: tuple[Person, Person], tmp_path: Path, monkeypatch: Any
) -> None:
    """``python -m webhook export-customer|erase-customer|retention`` (not async: the commands run their own loop)."""
    from tests.service.conftest import stored
    from webhook import cli
    from webhook.settings import get_settings

    me, _ = people
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RASA_TRACKER_DB", str(tracker))
    monkeypatch.setenv("RETENTION_DAYS", "0")
    get_settings.cache_clear()
    try:
        target = tmp_path / "export.json"
        assert cli.main(["export-customer", me.resolved_id, "--output", str(target)]) == 0
        assert json.loads(target.read_text())["customer"]["id"] == me.customer_id
        assert cli.main(["retention", "--dry-run", "--days", "30"]) == 0
        assert cli.main(["erase-customer", me.resolved_id, "--yes"]) == 0
        assert cli.main(["erase-customer", me.resolved_id, "--yes"]) == 1
        assert cli.main(["retention"]) == 1  # RETENTION_DAYS is 0: off
    finally:
        get_settings.cache_clear()
    assert scan_database(database_url, me.markers) == []
    rows = stored(database_url, "SELECT action, actor FROM audit_events WHERE action LIKE 'customer.%' ORDER BY id")
    assert rows == [("customer.exported", "cli"), ("customer.erased", "cli")]


def test_the_web_process_runs_the_daily_retention_when_it_is_set(tmp_path: Path) -> None:
    """Started with the app's other background tasks: today's run is claimed and done; off by default."""
    import time

    from fastapi.testclient import TestClient

    from tests.conftest import editor_settings
    from tests.service.conftest import stored
    from webhook.app import create_app

    for days, folder in ((30, tmp_path / "on"), (0, tmp_path / "off")):
        folder.mkdir()
        settings = editor_settings(folder, retention_days=days, rasa_tracker_db=folder / "t.db")
        with TestClient(create_app(settings)):
            runs: list[tuple[Any, ...]] = []
            for _ in range(300 if days else 1):  # the task runs beside the app: wait for it to finish
                runs = stored(settings.database_url, "SELECT period, finished_at FROM scheduled_runs")
                if runs and runs[0][1] is not None:
                    break
                time.sleep(0.1)
        if days:
            assert [period for period, _ in runs] == [datetime.now(UTC).date().isoformat()] and runs[0][1]
        else:
            assert runs == []
