"""Console users and their sign-in tokens: passwords, look-ups, tokens.

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile);
the hash string names its own parameters, so raising the cost later only needs a
rehash at the next successful sign-in. Hashing is slow on purpose (docs/benchmarks.md
has its cost), so it runs in a worker thread and never stalls the event loop.

A token is 32 random bytes (URL-safe text) shown once to the client; only its
SHA-256 is stored, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.enums import Role
from webhook.domain.errors import DuplicateUser, InvalidUsername, UnknownUser, UserError, WeakPassword
from webhook.store import audit
from webhook.store.schema import AgentToken, User

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MIN_PASSWORD_CHARS = 8
# Long enough for any passphrase, short enough that nobody makes the server hash megabytes.
MAX_PASSWORD_CHARS = 1024
MAX_DISPLAY_NAME_CHARS = 200

_USERNAME = re.compile(USERNAME_PATTERN)
_hasher = PasswordHasher()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- passwords ---------------------------------------------------------------------
def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidUsername("a username is 1-64 characters: letters, digits, '_', '.' or '-'")
    return username


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"the password is too short: at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"the password is too long: at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    """An Argon2id hash string (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``) with a fresh random salt."""
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches; a malformed stored hash is a mismatch, never an exception.

    argon2's verification compares in constant time.
    """
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def verify_password(user: User | None, password: str) -> bool:
    """Check a sign-in password. For an unknown user a dummy hash is checked anyway, so the
    answer takes as long as for a real one and timing does not tell which usernames exist."""
    stored = user.password_hash if user is not None else await asyncio.to_thread(_dummy_hash)
    ok = await asyncio.to_thread(check_password, stored, password)
    return ok and user is not None


# -- users -------------------------------------------------------------------------
async def find_user(session: AsyncSession, username: str) -> User | None:
    """The user of that name, case-insensitively (the unique index is on ``lower(username)``)."""
    result = await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    return result.scalar_one_or_none()


def _display_name(display_name: str | None, username: str) -> str:
    name = (display_name or "").strip() or username
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise UserError(f"the display name is too long: at most {MAX_DISPLAY_NAME_CHARS} characters")
    return name


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    *,
    actor: User | str = audit.SYSTEM,
) -> User:
    """Add a user (flushed, not committed), recorded in the audit log as ``user.created`` by ``actor``.

    Raises :class:`UserError` with a message for people.
    """
    check_username(username)
    check_password_strength(password)
    role = Role(role)
    name = _display_name(display_name, username)
    existing = await find_user(session, username)
    if existing is not None:
        raise DuplicateUser(f"a user named {existing.username!r} already exists")
    user = User(
        username=username,
        display_name=name,
        role=role,
        password_hash=await asyncio.to_thread(hash_password, password),
        is_active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # created by someone else in the meantime
        raise DuplicateUser(f"a user named {username!r} already exists") from exc
    detail = {"username": user.username, "role": role.value}
    await audit.record(session, "user.created", actor=actor, target=f"user:{user.id}", detail=detail)
    return user


async def update_user(
    session: AsyncSession,
    username: str,
    *,
    password: str | None = None,
    role: Role | str | None = None,
    display_name: str | None = None,
    is_active: bool | None = None,
    actor: User | str = audit.SYSTEM,
) -> User:
    """Change a user. A new password or deactivation also ends every sign-in the user has.

    Recorded in the audit log as ``user.changed`` by ``actor``: what changed (never the password).
    """
    user = await find_user(session, username)
    if user is None:
        raise UnknownUser(f"no user named {username!r}")
    changes: dict[str, object] = {}
    if password is not None:
        check_password_strength(password)
        user.password_hash = await asyncio.to_thread(hash_password, password)
        changes["password"] = True
    if role is not None and Role(role) != user.role:
        changes["role"] = [user.role.value, Role(role).value]
        user.role = Role(role)
    if display_name is not None and _display_name(display_name, user.username) != user.display_name:
        user.display_name = _display_name(display_name, user.username)
        changes["display_name"] = True
    if is_active is not None and is_active != user.is_active:
        changes["active"] = is_active
        user.is_active = is_active
    if password is not None or is_active is False:
        await revoke_user_tokens(session, user.id)
    await session.flush()
    if changes:
        detail = {"username": user.username, **changes}
        await audit.record(session, "user.changed", actor=actor, target=f"user:{user.id}", detail=detail)
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The active user these credentials belong to, or None (unknown, wrong password, inactive)."""
    user = await find_user(session, username)
    if not await verify_password(user, password) or user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        # the configured cost went up since this hash was made
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return user


async def touch_login(session: AsyncSession, user: User) -> None:
    user.last_login_at = _now()
    await session.flush()


# -- tokens ------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown to the client once; not stored
    expires_at: datetime


async def issue_token(session: AsyncSession, user: User, ttl_s: int) -> IssuedToken:
    """A new bearer token for ``user``, valid for ``ttl_s`` seconds (flushed, not committed)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    expires = now + timedelta(seconds=ttl_s)
    session.add(AgentToken(token_hash=token_hash(token), user_id=user.id, created_at=now, expires_at=expires))
    await session.flush()
    return IssuedToken(token, expires)


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The user a token signs in, or None when it is unknown, expired, revoked, or the user is inactive."""
    result = await session.execute(
        select(User, AgentToken)
        .join(AgentToken, AgentToken.user_id == User.id)
        .where(AgentToken.token_hash == token_hash(token))
    )
    row = result.first()
    if row is None:
        return None
    user, record = row
    if record.revoked_at is not None or _aware(record.expires_at) <= _now() or not user.is_active:
        return None
    return user


async def revoke_token(session: AsyncSession, token: str) -> bool:
    """End one sign-in; False when the token was unknown or already revoked."""
    result = await session.execute(
        update(AgentToken)
        .where(AgentToken.token_hash == token_hash(token), AgentToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_user_tokens(session: AsyncSession, user_id: int) -> None:
    """End every sign-in of one user (after a password change or deactivation)."""
    await session.execute(
        update(AgentToken)
        .where(AgentToken.user_id == user_id, AgentToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
