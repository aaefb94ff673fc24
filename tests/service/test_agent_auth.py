"""Agent console users and sign-in: password hashing, tokens, the create-user CLI and the login API.

Every test runs on real databases (SQLite, and PostgreSQL when TEST_POSTGRES_URL is
set). The API tests use the product's own app (``create_app``) with its routers and
error handlers, without its lifespan (no embedding model, no Rasa): the test puts a
``Database`` on ``app.state`` as the lifespan would.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webhook.api.deps import COOKIE_NAME, require_role
from webhook.domain.enums import Role
from webhook.settings import Settings
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.schema import AgentToken, User

ROOT = Path(__file__).resolve().parents[2]


async def add_user(db: Database, username: str, password: str = "correct horse", role: str = "agent") -> User:
    async with db.session() as session:
        user = await user_store.create_user(session, username, password, role)
        await session.commit()
        return user


# -- the schema --------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migration_matches_the_models(database_url: str) -> None:
    """0004 creates exactly what the models declare, and can be undone and redone."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    from webhook.store.database import MIGRATIONS, migrate, sync_url
    from webhook.store.schema import Base

    migrate(database_url)
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "users" in str(d) or "agent_tokens" in str(d)] == []

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        url = sync_url(database_url).render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
        command.downgrade(config, "0003")
        assert not {"users", "agent_tokens"} & set(inspect(engine).get_table_names())
        command.upgrade(config, "head")
        assert {"users", "agent_tokens"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def test_the_database_refuses_usernames_differing_only_in_case(db: Database) -> None:
    """The unique index is on lower(username): enforced by the database, not only by create_user."""
    await add_user(db, "alice")
    async with db.session() as session:
        session.add(User(username="ALICE", display_name="x", role=Role.AGENT, password_hash="x"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_create_user_rules(db: Database) -> None:
    user = await add_user(db, "alice", role="editor")
    assert (user.username, user.display_name, user.role, user.is_active) == ("alice", "alice", Role.EDITOR, True)
    async with db.session() as session:
        with pytest.raises(user_store.DuplicateUser, match="already exists"):
            await user_store.create_user(session, "ALICE", "another secret", "agent")
        with pytest.raises(user_store.WeakPassword, match="at least 8"):
            await user_store.create_user(session, "bob", "short", "agent")
        for bad in ("", "has space", "x" * 65, "émile", "bob\n"):
            with pytest.raises(user_store.InvalidUsername):
                await user_store.create_user(session, bad, "long enough", "agent")
        with pytest.raises(ValueError):
            await user_store.create_user(session, "carol", "long enough", "boss")
        named = await user_store.create_user(session, "dave", "long enough", "agent", display_name="  Dave D  ")
        assert named.display_name == "Dave D"
        await session.commit()
    async with db.session() as session:
        found = await user_store.find_user(session, "Alice")
        assert found is not None and found.username == "alice"
        assert await user_store.authenticate(session, "alice", "correct horse") is not None
        assert await user_store.authenticate(session, "alice", "wrong horse") is None
        assert await user_store.authenticate(session, "nobody", "correct horse") is None


# -- tokens ------------------------------------------------------------------------
async def test_token_expiry_and_revocation(db: Database) -> None:
    user = await add_user(db, "alice")
    async with db.session() as session:
        issued = await user_store.issue_token(session, user, ttl_s=3600)
        stale = await user_store.issue_token(session, user, ttl_s=3600)
        await session.commit()
    assert len(issued.token) >= 43
    assert timedelta(minutes=59) < issued.expires_at - datetime.now(UTC) <= timedelta(hours=1)

    async with db.session() as session:
        stored = (await session.execute(select(AgentToken.token_hash))).scalars().all()
        assert hashlib.sha256(issued.token.encode()).hexdigest() in stored
        assert issued.token not in stored, "only the token's hash is stored"
        found = await user_store.user_for_token(session, issued.token)
        assert found is not None and found.username == "alice"
        assert await user_store.user_for_token(session, "garbage") is None

        await session.execute(
            update(AgentToken)
            .where(AgentToken.token_hash == user_store.token_hash(stale.token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
        assert await user_store.user_for_token(session, stale.token) is None, "expired"
        assert await user_store.user_for_token(session, issued.token) is not None

        assert await user_store.revoke_token(session, issued.token)
        await session.commit()
        assert await user_store.user_for_token(session, issued.token) is None, "revoked"
        assert not await user_store.revoke_token(session, issued.token), "already revoked"


async def test_inactive_user_and_password_change_end_sign_ins(db: Database) -> None:
    user = await add_user(db, "alice")
    async with db.session() as session:
        first = await user_store.issue_token(session, user, ttl_s=3600)
        await session.commit()
        await user_store.update_user(session, "alice", password="a new secret")
        await session.commit()
        assert await user_store.user_for_token(session, first.token) is None
        assert await user_store.authenticate(session, "alice", "correct horse") is None
        assert await user_store.authenticate(session, "alice", "a new secret") is not None

        second = await user_store.issue_token(session, user, ttl_s=3600)
        await session.commit()
        assert await user_store.user_for_token(session, second.token) is not None
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
        assert await user_store.user_for_token(session, second.token) is None
        assert await user_store.authenticate(session, "alice", "a new secret") is None


# -- the CLI -----------------------------------------------------------------------
def cli(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", "create-user", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_user_cli(database_url: str) -> None:
    made = cli(database_url, "--username", "alice", "--role", "agent", "--password", "secret123")
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("\n") == 1 and "alice" in made.stdout

    piped = cli(database_url, "--username", "bob", "--role", "admin", "--display-name", "Bob B", stdin="secret456\n")
    assert piped.returncode == 0, piped.stderr

    duplicate = cli(database_url, "--username", "Alice", "--role", "editor", "--password", "secret789")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr

    short = cli(database_url, "--username", "carol", "--role", "agent", stdin="short\n")
    assert short.returncode == 1
    assert "at least 8" in short.stderr

    bad_role = cli(database_url, "--username", "carol", "--role", "boss", "--password", "secret123")
    assert bad_role.returncode == 2
    assert "--role" in bad_role.stderr

    no_password = cli(database_url, "--username", "carol", "--role", "agent", stdin="")
    assert no_password.returncode == 1
    assert "password" in no_password.stderr

    db = Database(database_url)
    try:
        async with db.session() as session:
            alice = await user_store.authenticate(session, "alice", "secret123")
            bob = await user_store.authenticate(session, "bob", "secret456")
            assert alice is not None and alice.role == Role.AGENT and alice.display_name == "alice"
            assert bob is not None and bob.role == Role.ADMIN and bob.display_name == "Bob B"
            assert await user_store.find_user(session, "carol") is None

        updated = cli(database_url, "--username", "alice", "--role", "editor", "--update", stdin="changed123\n")
        assert updated.returncode == 0, updated.stderr
        async with db.session() as session:
            assert await user_store.authenticate(session, "alice", "secret123") is None
            alice = await user_store.authenticate(session, "alice", "changed123")
            assert alice is not None and alice.role == Role.EDITOR
    finally:
        await db.dispose()


# -- the API -----------------------------------------------------------------------
@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The product's app (routers, error handlers) on a test database, without the lifespan."""
    from webhook.app import create_app

    settings = Settings(database_url=db.url, agent_token_ttl_s=600)
    app = create_app(settings)

    @app.get("/api/test/editors-only", dependencies=[Depends(require_role("editor", "admin"))])
    async def editors_only() -> dict[str, bool]:
        return {"ok": True}

    app.state.settings = settings
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/agent/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie_header(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={token}"}


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_login_and_me(db: Database, client: httpx.AsyncClient) -> None:
    await add_user(db, "alice", role="editor")
    before = datetime.now(UTC)
    response = await login(client, "alice", "correct horse")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {"username": "alice", "display_name": "alice", "role": "editor"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires - before <= timedelta(seconds=610), "AGENT_TOKEN_TTL_S"

    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={body['token']};")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes, "plain http: a Secure cookie would never come back"

    client.cookies.clear()
    me = await client.get("/api/agent/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == body["user"]

    # the browser console: the cookie alone signs in
    via_cookie = await client.get("/api/agent/me", headers=cookie_header(body["token"]))
    assert via_cookie.status_code == 200 and via_cookie.json()["username"] == "alice"

    async with db.session() as session:
        user = await user_store.find_user(session, "alice")
        assert user is not None and user.last_login_at is not None


async def test_wrong_password_and_unknown_user_answer_alike(db: Database, client: httpx.AsyncClient) -> None:
    await add_user(db, "alice")
    wrong = await login(client, "alice", "wrong horse")
    dummy_checks = user_store._dummy_hash.cache_info()
    unknown = await login(client, "nobody", "correct horse")
    after = user_store._dummy_hash.cache_info()
    assert after.hits + after.misses > dummy_checks.hits + dummy_checks.misses, "an unknown user costs a hash check"
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_credentials"
        assert "set-cookie" not in response.headers
    assert wrong.json() == unknown.json()

    async with db.session() as session:
        assert (await session.execute(select(AgentToken))).first() is None, "no token was issued"

    incomplete = await client.post("/api/agent/login", json={"username": "alice"})
    assert incomplete.status_code == 422 and incomplete.json()["error"] == "invalid_request"


async def test_inactive_user_cannot_log_in(db: Database, client: httpx.AsyncClient) -> None:
    user = await add_user(db, "alice")
    async with db.session() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
    response = await login(client, "alice", "correct horse")
    assert response.status_code == 401 and response.json()["error"] == "invalid_credentials"


async def test_missing_garbage_and_expired_tokens_are_refused(db: Database, client: httpx.AsyncClient) -> None:
    await add_user(db, "alice")
    assert_unauthorized(await client.get("/api/agent/me"))
    assert_unauthorized(await client.get("/api/agent/me", headers=bearer("garbage")))
    assert_unauthorized(await client.get("/api/agent/me", headers=bearer("x" * 10_000)))
    assert_unauthorized(await client.get("/api/agent/me", headers={"Authorization": "Basic YWxpY2U6eA=="}))
    assert_unauthorized(await client.get("/api/agent/me", headers=cookie_header("garbage")))

    token = (await login(client, "alice", "correct horse")).json()["token"]
    client.cookies.clear()
    assert (await client.get("/api/agent/me", headers=bearer(token))).status_code == 200
    async with db.session() as session:
        await session.execute(
            update(AgentToken)
            .where(AgentToken.token_hash == user_store.token_hash(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    expired = await client.get("/api/agent/me", headers=bearer(token))
    assert_unauthorized(expired)
    assert "expired" in expired.json()["detail"]


async def test_logout_revokes_the_token_and_clears_the_cookie(db: Database, client: httpx.AsyncClient) -> None:
    await add_user(db, "alice")
    token = (await login(client, "alice", "correct horse")).json()["token"]
    client.cookies.clear()
    other = (await login(client, "alice", "correct horse")).json()["token"]
    client.cookies.clear()

    out = await client.post("/api/agent/logout", headers=bearer(token))
    assert out.status_code == 204
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith(f"{COOKIE_NAME}=") and "max-age=0" in cleared

    assert_unauthorized(await client.get("/api/agent/me", headers=bearer(token)))
    assert_unauthorized(await client.get("/api/agent/me", headers=cookie_header(token)))
    assert (await client.get("/api/agent/me", headers=bearer(other))).status_code == 200, "other sign-ins go on"

    # logging out again, or with no session at all, still clears the cookie
    assert (await client.post("/api/agent/logout", headers=bearer(token))).status_code == 204
    assert (await client.post("/api/agent/logout")).status_code == 204


async def test_role_check(db: Database, client: httpx.AsyncClient) -> None:
    await add_user(db, "agent1", role="agent")
    await add_user(db, "editor1", role="editor")
    agent = (await login(client, "agent1", "correct horse")).json()["token"]
    editor = (await login(client, "editor1", "correct horse")).json()["token"]
    client.cookies.clear()

    refused = await client.get("/api/test/editors-only", headers=bearer(agent))
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    allowed = await client.get("/api/test/editors-only", headers=bearer(editor))
    assert allowed.status_code == 200 and allowed.json() == {"ok": True}
    assert_unauthorized(await client.get("/api/test/editors-only"))


async def test_openapi_documents_the_agent_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/agent/login", "/api/agent/logout", "/api/agent/me"):
        operation = next(iter(spec["paths"][path].values()))
        assert operation["tags"] == ["agent"], path
    assert "LoginIn" in spec["components"]["schemas"]
    assert "security" in spec["paths"]["/api/agent/me"]["get"]
