"""The agent console's sign-in API: log in, log out, who am I.

Users are made with ``python -m webhook create-user``; there is no sign-up. A wrong
password and an unknown username get the very same answer, after the same amount of
hashing work, so the API does not tell which usernames exist.

Sign-in is rate limited (docs/security.md): attempts per IP, and failed attempts per
username; a username whose failures fill their limit is locked, for longer each time,
and while locked even the right password gets the same 429. Sign-ins, failures and
lockouts go to the audit log, with the IP and never the password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.api.deps import (
    CurrentUser,
    PresentedToken,
    SessionDep,
    SettingsDep,
    clear_session_cookie,
    set_session_cookie,
)
from webhook.api.errors import ErrorOut
from webhook.api.rate_limits import RATE_LIMITED, AbuseLimitsDep, ClientIP
from webhook.domain.storable_text import StorableText
from webhook.runtime.abuse_limits import AbuseLimits
from webhook.store import audit
from webhook.store import users as user_store
from webhook.store.schema import User

router = APIRouter(prefix="/api/agent", tags=["agent"])

INVALID_CREDENTIALS = {"error": "invalid_credentials", "detail": "wrong username or password"}
ANONYMOUS = "anonymous"  # the audit log's actor for a sign-in that failed: nobody is signed in


class LoginIn(BaseModel):
    username: StorableText = Field(min_length=1, max_length=64)
    password: StorableText = Field(min_length=1, max_length=user_store.MAX_PASSWORD_CHARS)


class UserOut(BaseModel):
    username: str
    display_name: str = Field(description="the name customers see on the agent's messages")
    role: Literal["agent", "editor", "admin"]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(username=user.username, display_name=user.display_name, role=user.role.value)


class LoginOut(BaseModel):
    token: str = Field(description="send as Authorization: Bearer <token>; also set as the larkspur_agent cookie")
    expires_at: datetime
    user: UserOut


@router.post(
    "/login",
    response_model=LoginOut,
    responses={
        401: {"model": ErrorOut, "description": "wrong username or password, or the user is inactive"},
        **RATE_LIMITED,
    },
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limits: AbuseLimitsDep,
    ip: ClientIP,
) -> LoginOut | JSONResponse:
    """Sign in with a username and password: a bearer token, also set as an HttpOnly cookie."""
    await limits.sign_in_attempt(ip)
    await limits.refuse_if_locked(body.username)
    ttl_s = settings.agent_token_ttl_s
    user = await user_store.authenticate(session, body.username, body.password)
    if user is None:
        await _failed(session, limits, body.username, ip)
        return JSONResponse(INVALID_CREDENTIALS, status.HTTP_401_UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
    await limits.sign_in_succeeded(body.username)
    issued = await user_store.issue_token(session, user, ttl_s)
    await user_store.touch_login(session, user)
    await audit.record(session, "sign_in", actor=user, target=f"user:{user.id}", ip=ip)
    await session.commit()
    set_session_cookie(request, response, issued.token, ttl_s)
    return LoginOut(token=issued.token, expires_at=issued.expires_at, user=UserOut.of(user))


async def _failed(session: AsyncSession, limits: AbuseLimits, username: str, ip: str) -> None:
    """Audit a failed sign-in (the user when the name exists; an unknown name is not kept), and maybe lock."""
    known = await user_store.find_user(session, username)
    target = None if known is None else f"user:{known.id}"
    await audit.record(session, "sign_in.failed", actor=ANONYMOUS, target=target, ip=ip)
    lockout = await limits.sign_in_failed(username)
    if lockout is not None:
        detail = {"seconds": lockout.seconds, "lockout": lockout.number}
        await audit.record(session, "sign_in.locked", actor=ANONYMOUS, target=target, detail=detail, ip=ip)
    await session.commit()


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(token: PresentedToken, session: SessionDep) -> Response:
    """End this sign-in: the token stops working and the cookie is cleared.

    Always 204, even without a valid token, so a browser whose session already
    ended can still clear its cookie.
    """
    if token is not None:
        await user_store.revoke_token(session, token)
        await session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


@router.get("/me", response_model=UserOut, responses={401: {"model": ErrorOut}})
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.of(user)
