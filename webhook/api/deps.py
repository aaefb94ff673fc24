"""What the API's routes need, as typed FastAPI dependencies (``Annotated`` aliases).

The app puts its parts on ``app.state`` at start-up; these read them for one request
or WebSocket (``HTTPConnection`` is the common base of both). A route names what it
needs (``SessionDep``, ``ArticlesDep``, ``CurrentUser``) and never opens a database
session or reads ``app.state`` itself.

Who is calling: a console token arrives as ``Authorization: Bearer <token>``
(scripts, other clients) or in the HttpOnly cookie ``larkspur_agent`` (the browser
console, so page scripts never hold it). The header wins when both are sent. The
editor API (``/api/kb`` writes) takes the ``X-API-Key`` header instead. Failures
raise HTTPException, which :mod:`webhook.api.errors` turns into
``{"error", "detail"}`` on /api/.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Response, status
from fastapi.requests import HTTPConnection
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.search import KnowledgeBase
from webhook.api.rate_limits import AbuseLimitsDep
from webhook.domain.enums import Role
from webhook.domain.redaction import Redactor
from webhook.runtime.rasa_client import RasaClient
from webhook.services.agents import AgentService
from webhook.services.articles import ArticleService
from webhook.services.conversations import ConversationService
from webhook.services.customer_data import CustomerData
from webhook.services.optimise import Optimiser
from webhook.settings import Settings, get_settings
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.schema import User

COOKIE_NAME = "larkspur_agent"
# A real token is 43 characters; anything far longer is not worth hashing.
_MAX_TOKEN_CHARS = 256

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/agent/login")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="set by POST /api/agent/login")


# -- the app's parts -------------------------------------------------------------------
def settings_of(connection: HTTPConnection) -> Settings:
    found: Settings | None = getattr(connection.app.state, "settings", None)
    return found or get_settings()


def database_of(connection: HTTPConnection) -> Database:
    db: Database = connection.app.state.db
    return db


SettingsDep = Annotated[Settings, Depends(settings_of)]
DatabaseDep = Annotated[Database, Depends(database_of)]


async def database_session(db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One unit of work for the route; closed (rolled back unless committed) when the route returns."""
    async with db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(database_session, scope="function")]


def conversation_service(connection: HTTPConnection) -> ConversationService:
    service: ConversationService = connection.app.state.conversations
    return service


def agent_service(connection: HTTPConnection) -> AgentService:
    service: AgentService = connection.app.state.agents
    return service


def article_service(connection: HTTPConnection) -> ArticleService:
    service: ArticleService = connection.app.state.articles
    return service


def optimiser(connection: HTTPConnection) -> Optimiser:
    found: Optimiser = connection.app.state.optimiser
    return found


def knowledge_base(connection: HTTPConnection) -> KnowledgeBase:
    kb: KnowledgeBase = connection.app.state.knowledge_base
    return kb


def rasa_client(connection: HTTPConnection) -> RasaClient:
    rasa: RasaClient = connection.app.state.rasa
    return rasa


def customer_data(connection: HTTPConnection) -> CustomerData:
    service: CustomerData = connection.app.state.customer_data
    return service


def redactor(connection: HTTPConnection) -> Redactor:
    """The app's one :class:`Redactor` (REDACT_PATTERNS, REDACT_PHONE_REGIONS); each use checks its own switch."""
    found: Redactor = connection.app.state.redactor
    return found


ConversationsDep = Annotated[ConversationService, Depends(conversation_service)]
AgentsDep = Annotated[AgentService, Depends(agent_service)]
ArticlesDep = Annotated[ArticleService, Depends(article_service)]
OptimiserDep = Annotated[Optimiser, Depends(optimiser)]
KnowledgeBaseDep = Annotated[KnowledgeBase, Depends(knowledge_base)]
RasaDep = Annotated[RasaClient, Depends(rasa_client)]
RedactorDep = Annotated[Redactor, Depends(redactor)]
CustomerDataDep = Annotated[CustomerData, Depends(customer_data)]


# -- the editor API's key --------------------------------------------------------------
async def require_editor_key(
    settings: SettingsDep, limits: AbuseLimitsDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """The ``X-API-Key`` header must equal ``EDITOR_API_KEY``: 401 when it does not, 403 when none is set.

    The key's calls count against RATE_LIMIT_STAFF_PER_USER, as one user.
    """
    expected = settings.editor_api_key
    if not expected:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the editor API is disabled: set EDITOR_API_KEY")
    if not x_api_key or not secrets.compare_digest(x_api_key, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid X-API-Key header is required",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
    await limits.staff_call("editor-api-key")


EditorKey = Depends(require_editor_key)


# -- the signed-in console user --------------------------------------------------------
def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def presented_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str | None:
    """The token the request carries (header first, then cookie), or None."""
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return cookie or None


PresentedToken = Annotated[str | None, Depends(presented_token)]


async def token_user(db: Database, token: str) -> User | None:
    """The user a token signs in, looked up in a short session of its own.

    Its own session, not the route's: a route that needs only the user (most agent
    routes) then holds no database connection while it works.
    """
    async with db.session() as session:
        return await user_store.user_for_token(session, token)


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str


async def signed_in(db: DatabaseDep, token: PresentedToken) -> SignedIn:
    """The user and the token they signed in with; 401 when there is none or it is not valid."""
    if token is None:
        raise unauthorized("sign in first: send Authorization: Bearer <token>")
    if len(token) > _MAX_TOKEN_CHARS:
        raise unauthorized("the token is invalid, expired or revoked")
    user = await token_user(db, token)
    if user is None:
        raise unauthorized("the token is invalid, expired or revoked")
    return SignedIn(user, token)


async def current_user(auth: Annotated[SignedIn, Depends(signed_in)], limits: AbuseLimitsDep) -> User:
    """The signed-in console user (any role); each call counts against RATE_LIMIT_STAFF_PER_USER."""
    await limits.staff_call(f"user:{auth.user.id}")
    return auth.user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role | str) -> Callable[..., Awaitable[User]]:
    """A dependency that lets only these roles through: 403 for other signed-in users.

    Roles are listed explicitly (``require_role("editor", "admin")``): no role implies another.
    """
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require_role needs at least one role")

    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {names}")
        return user

    return check


AgentUser = Annotated[User, Depends(require_role(Role.AGENT, Role.ADMIN))]
AdminUser = Annotated[User, Depends(require_role(Role.ADMIN))]


async def user_from_request(connection: HTTPConnection) -> User | None:
    """The signed-in user of a request (header first, then cookie), or None; never raises.

    For HTML pages, which redirect to the sign-in page rather than answer 401.
    """
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
    token = token or connection.cookies.get(COOKIE_NAME) or None
    if token is None or len(token) > _MAX_TOKEN_CHARS:
        return None
    return await token_user(database_of(connection), token)


PageUser = Annotated[User | None, Depends(user_from_request)]


# -- the browser console's cookie ------------------------------------------------------
def set_session_cookie(connection: HTTPConnection, response: Response, token: str, max_age_s: int) -> None:
    """The browser console's copy of the token: HttpOnly, SameSite=Lax, Secure behind HTTPS."""
    secure = connection.url.scheme == "https" or settings_of(connection).public_url.startswith("https://")
    response.set_cookie(COOKIE_NAME, token, max_age=max_age_s, path="/", httponly=True, samesite="lax", secure=secure)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
