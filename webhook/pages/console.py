"""The agent console's HTML pages: the sign-in form and the console itself.

The pages are shells: ``static/agent.js`` does the work through the agent API
(``docs/agents.md``) and ``/ws/agent``. The browser never holds the token: the
login sets the HttpOnly ``larkspur_agent`` cookie, which every later call carries.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webhook.api.deps import PageUser
from webhook.domain.enums import Role
from webhook.pages.deps import TemplatesDep
from webhook.store.schema import User

CONSOLE_PATH = "/agent"
LOGIN_PATH = "/agent/login"
CONSOLE_ROLES = frozenset({Role.AGENT, Role.ADMIN})

router = APIRouter(tags=["agent console"], include_in_schema=False)


def safe_next(target: str | None, default: str = CONSOLE_PATH) -> str:
    """``target`` when it is a path on this site (``/agent?x=1``), else ``default``.

    Refuses absolute and scheme-relative URLs (``https://evil``, ``//evil``, ``/\\evil``),
    anything with a backslash or control characters, and overly long values, so a
    crafted sign-in link cannot send the agent to another site after signing in.
    """
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def may_use_console(user: User | None) -> bool:
    return user is not None and user.role in CONSOLE_ROLES


@router.get(LOGIN_PATH, response_class=HTMLResponse)
async def login_page(
    request: Request, user: PageUser, templates: TemplatesDep, next: str | None = Query(None, max_length=2000)
) -> Response:
    target = safe_next(next)
    if may_use_console(user) and target == CONSOLE_PATH:
        return RedirectResponse(target, status_code=303)
    forbidden = user is not None and not may_use_console(user)
    return templates.TemplateResponse(
        request,
        "agent_login.html",
        {"next": target, "forbidden": forbidden},
        status_code=403 if forbidden else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get(CONSOLE_PATH, response_class=HTMLResponse)
async def console(request: Request, user: PageUser, templates: TemplatesDep) -> Response:
    if user is None:
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(CONSOLE_PATH, safe='/')}", status_code=303)
    if not may_use_console(user):
        return templates.TemplateResponse(
            request, "agent_login.html", {"next": CONSOLE_PATH, "forbidden": True}, status_code=403
        )
    return templates.TemplateResponse(
        request,
        "agent.html",
        {"user": user},
        headers={"Cache-Control": "no-store"},
    )
