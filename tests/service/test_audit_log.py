"""The audit log: append-only on both databases, written where things happen, and for admins only.

What is recorded here: user and role changes, article publishes and rollbacks (by the
signed-in user, else ``api-key``), and agents' claims, transfers and resolves.
Exports and erasures are in tests/service/test_privacy.py; sign-ins with the rate limits.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import EDITOR_AUTH, LOCKER_ARTICLE, editor_settings
from tests.handoff_support import make_agent, web
from webhook.services.agents import AgentService
from webhook.services.conversations import ConversationService
from webhook.settings import Settings
from webhook.store import audit
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.schema import AuditEvent


def actions(events: Any) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.target) for e in events]


async def test_the_audit_log_is_append_only(db: Database) -> None:
    async with db.session() as s:
        event = await audit.record(s, "customer.erased", actor="cli", target="customer:x", detail={"deleted": {}})
        await s.commit()
        event_id = event.id
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        f"DELETE FROM audit_events WHERE id = {event_id}",
    ):
        async with db.session() as s:
            with pytest.raises(DBAPIError, match="append-only"):
                await s.execute(text(statement))
                await s.commit()
    async with db.session() as s:
        kept = await s.get(AuditEvent, event_id)
        assert kept is not None and kept.actor == "cli"


async def test_user_changes_are_recorded_without_the_password(db: Database) -> None:
    async with db.session() as s:
        root = await user_store.create_user(s, "root", "correct horse", "admin", actor="cli")
        await s.commit()
    async with db.session() as s:
        await user_store.update_user(s, "root", role="agent", password="another horse", actor=root)
        await user_store.update_user(s, "root", display_name="root", actor=root)  # no change: nothing recorded
        await user_store.update_user(s, "root", is_active=False, actor="cli")
        await s.commit()
        events = await audit.events(s, action="user.")
    target = f"user:{root.id}"
    assert actions(events) == [
        ("user.changed", "cli", target),
        ("user.changed", "root", target),
        ("user.created", "cli", target),
    ]
    assert events[2].detail == {"username": "root", "role": "admin"}
    assert events[1].detail == {"username": "root", "password": True, "role": ["admin", "agent"]}
    assert events[1].actor_id == root.id
    assert events[0].detail == {"username": "root", "active": False}
    assert "horse" not in str([e.detail for e in events])


def test_create_user_on_the_command_line_is_recorded(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.service.conftest import stored
    from webhook import cli
    from webhook.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["create-user", "--username", "ops", "--role", "admin", "--password", "correct horse"]) == 0
        assert cli.main(["create-user", "--username", "ops", "--role", "agent", "--password", "x" * 9, "--update"]) == 0
    finally:
        get_settings.cache_clear()
    rows = stored(database_url, "SELECT action, actor FROM audit_events ORDER BY id")
    assert rows == [("user.created", "cli"), ("user.changed", "cli")]


async def test_claims_transfers_and_resolves_are_recorded(db: Database, rasa: Any) -> None:
    service = ConversationService(db, rasa)
    agents = AgentService(service)
    ana, ben = await make_agent(db, "ana"), await make_agent(db, "ben")
    outcome = await service.handle(web(uuid.uuid4().hex, "Talk to a person", payload="/request_human"))
    target = f"conversation:{outcome.conversation_id}"
    await agents.claim(outcome.conversation_id, ana)
    await agents.transfer(outcome.conversation_id, ana, ben.username)
    await agents.resolve(outcome.conversation_id, ben)
    async with db.session() as s:
        events = await audit.events(s, action="conversation.")
    assert actions(events) == [
        ("conversation.resolved", ben.username, target),
        ("conversation.transferred", ana.username, target),
        ("conversation.claimed", ana.username, target),
    ]
    assert events[1].detail == {"to": ben.username} and events[0].actor_id == ben.id


# -- article publishes and rollbacks, through the editor API ------------------------------
@pytest.fixture(scope="module")
def editor_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with TestClient(create_editor_app(tmp_path_factory.mktemp("audit-editor"))) as client:
        yield client


def create_editor_app(workdir: Path) -> Any:
    from webhook.app import create_app

    return create_app(editor_settings(workdir, rate_limit_enabled=False))


def test_article_publishes_and_rollbacks_are_recorded(editor_app: TestClient) -> None:
    from tests.service.conftest import stored

    path = "/api/kb/articles/audited-locker/en"
    assert editor_app.put(path, json=LOCKER_ARTICLE, headers=EDITOR_AUTH).status_code == 201
    draft = LOCKER_ARTICLE | {"publish": False, "body": "Lockers: 3 EUR."}
    assert editor_app.put(path, json=draft, headers=EDITOR_AUTH).status_code == 200  # a draft: nothing to record
    # signed in as an editor (the cookie), with the key: the user is the actor
    url = editor_app.app.state.settings.database_url

    async def editor() -> None:
        db = Database(url)
        async with db.session() as s:
            await user_store.create_user(s, "edna", "correct horse", "editor")
            await s.commit()
        await db.dispose()

    asyncio.run(editor())
    login = editor_app.post("/api/agent/login", json={"username": "edna", "password": "correct horse"})
    assert login.status_code == 200
    assert editor_app.post(f"{path}/publish", headers=EDITOR_AUTH).status_code == 200
    editor_app.cookies.clear()
    assert editor_app.post(f"{path}/rollback", json={"version": 1}, headers=EDITOR_AUTH).status_code == 200
    rows = stored(
        url, "SELECT action, actor, target, detail FROM audit_events WHERE action LIKE 'article.%' ORDER BY id"
    )
    assert [row[:3] for row in rows] == [
        ("article.published", "api-key", "article:audited-locker/en"),
        ("article.published", "edna", "article:audited-locker/en"),
        ("article.rolled_back", "api-key", "article:audited-locker/en"),
    ]
    detail = rows[2][3] if isinstance(rows[2][3], dict) else json.loads(rows[2][3])
    assert detail["to"] == 1 and detail["published_version"] == detail["version"] == 3


# -- the API and the page --------------------------------------------------------------------
@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The product's app (routers, error handlers) on a test database, without the lifespan."""
    from webhook.app import create_app

    app = create_app(Settings(database_url=db.url, rate_limit_enabled=False))
    app.state.db = db
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


async def sign_in(db: Database, client: httpx.AsyncClient, role: str) -> tuple[str, dict[str, str]]:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    async with db.session() as s:
        await user_store.create_user(s, name, "correct horse", role)
        await s.commit()
    response = await client.post("/api/agent/login", json={"username": name, "password": "correct horse"})
    client.cookies.clear()
    return name, {"Authorization": f"Bearer {response.json()['token']}"}


async def test_the_audit_api_is_for_admins_and_filters_and_pages(db: Database, client: httpx.AsyncClient) -> None:
    admin, admin_auth = await sign_in(db, client, "admin")
    _, agent_auth = await sign_in(db, client, "agent")
    async with db.session() as s:
        for n in range(5):
            await audit.record(s, "customer.exported", actor="cli", target=f"customer:{n}", detail={"messages": n})
        await audit.record(s, "retention.erased", detail={"conversations": 2})
        await s.commit()
    assert (await client.get("/api/admin/audit")).status_code == 401
    assert (await client.get("/api/admin/audit", headers=agent_auth)).status_code == 403

    everything = (await client.get("/api/admin/audit", headers=admin_auth)).json()
    assert [e["action"] for e in everything["events"]][:2] == ["retention.erased", "customer.exported"]
    assert everything["next_before_id"] is None
    first = (await client.get("/api/admin/audit", params={"action": "customer", "limit": 3}, headers=admin_auth)).json()
    assert [e["target"] for e in first["events"]] == ["customer:4", "customer:3", "customer:2"]
    params = {"action": "customer", "limit": 3, "before_id": first["next_before_id"]}
    second = (await client.get("/api/admin/audit", params=params, headers=admin_auth)).json()
    assert [e["target"] for e in second["events"]] == ["customer:1", "customer:0"] and second["next_before_id"] is None
    by_actor = (await client.get("/api/admin/audit", params={"actor": admin}, headers=admin_auth)).json()
    assert {e["actor"] for e in by_actor["events"]} <= {admin}  # their sign-in, if that slice records it
    by_cli = (await client.get("/api/admin/audit", params={"actor": "cli"}, headers=admin_auth)).json()
    assert len(by_cli["events"]) == 5
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/api/admin/audit", params={"since": later}, headers=admin_auth)).json()["events"] == []
    for bad in ("yesterday", "9999-12-31T23:59:59-14:00"):
        response = await client.get("/api/admin/audit", params={"since": bad}, headers=admin_auth)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"


async def test_the_audit_page_needs_an_admin_and_has_no_script(db: Database, client: httpx.AsyncClient) -> None:
    _, admin_auth = await sign_in(db, client, "admin")
    _, agent_auth = await sign_in(db, client, "agent")
    async with db.session() as s:
        await audit.record(
            s, "customer.erased", actor="cli", target="customer:abc", detail={"deleted": {"messages": 3}}
        )
        await s.commit()
    away = await client.get("/admin/audit")
    assert away.status_code == 303 and away.headers["location"] == "/agent/login?next=/admin/audit"
    assert (await client.get("/admin/audit", headers=agent_auth)).status_code == 403
    page = await client.get("/admin/audit", headers=admin_auth)
    assert page.status_code == 200 and "customer:abc" in page.text and "customer.erased" in page.text
    assert "<script" not in page.text
    filtered = await client.get("/admin/audit", params={"action": "article"}, headers=admin_auth)
    assert "customer:abc" not in filtered.text and "No events match these filters" in filtered.text
    wrong = await client.get("/admin/audit", params={"since": "soon"}, headers=admin_auth)
    assert wrong.status_code == 200 and "not a date" in wrong.text
