"""Who is calling the agent console: FastAPI dependencies for sign-in and roles.

A console token arrives as ``Authorization: Bearer <token>`` (scripts, other
clients) or in the HttpOnly cookie ``larkspur_agent`` (the browser console, so page
scripts never hold it). The header wins when both are sent. Failures raise
HTTPException, which the app's handler turns into ``{"error", "detail"}`` on /api/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from webhook.domain.enums import Role
from webhook.settings import Settings, get_settings
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.schema import User

COOKIE_NAME = "larkspur_agent"
# A real token is 43 characters; anything far longer is not worth hashing.
_MAX_TOKEN_CHARS = 256

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/agent/login")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="set by POST /api/agent/login")


def settings_of(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def presented_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    cookie: str | None = Depends(_cookie),
) -> str | None:
    """The token the request carries (header first, then cookie), or None."""
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return cookie or None


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str


async def signed_in(request: Request, token: str | None = Depends(presented_token)) -> SignedIn:
    """The user and the token they signed in with; 401 when there is none or it is not valid."""
    if token is None:
        raise unauthorized("sign in first: send Authorization: Bearer <token>")
    if len(token) > _MAX_TOKEN_CHARS:
        raise unauthorized("the token is invalid, expired or revoked")
    async with database_of(request).session() as session:
        user = await user_store.user_for_token(session, token)
    if user is None:
        raise unauthorized("the token is invalid, expired or revoked")
    return SignedIn(user, token)


async def current_user(auth: SignedIn = Depends(signed_in)) -> User:
    """The signed-in console user (any role)."""
    return auth.user


async def user_from_request(request: Request) -> User | None:
    """The signed-in user of a request (header first, then cookie), or None; never raises.

    For HTML pages, which redirect to the sign-in page rather than answer 401.
    """
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
    token = token or request.cookies.get(COOKIE_NAME) or None
    if token is None or len(token) > _MAX_TOKEN_CHARS:
        return None
    async with database_of(request).session() as session:
        return await user_store.user_for_token(session, token)


def require_role(*roles: Role | str) -> Callable[..., Awaitable[User]]:
    """A dependency that lets only these roles through: 403 for other signed-in users.

    Roles are listed explicitly (``require_role("editor", "admin")``): no role implies another.
    """
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require_role needs at least one role")

    async def check(user: User = Depends(current_user)) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {names}")
        return user

    return check


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    """The browser console's copy of the token: HttpOnly, SameSite=Lax, Secure behind HTTPS."""
    secure = request.url.scheme == "https" or settings_of(request).public_url.startswith("https://")
    response.set_cookie(COOKIE_NAME, token, max_age=max_age_s, path="/", httponly=True, samesite="lax", secure=secure)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
