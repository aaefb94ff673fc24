"""The admins' audit log page, ``/admin/audit``: rendered on the server, no script at all.

The same query as ``GET /api/admin/audit`` (:func:`webhook.api.audit.audit_page`): a
filter form (action prefix, actor, since) and a link to the next, older page. Signing
in is the console's: without a session, off to the sign-in page and back.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webhook.api.audit import AuditPageOut, audit_page, parse_since
from webhook.api.deps import PageUser, SessionDep
from webhook.domain.enums import Role
from webhook.pages.deps import TemplatesDep

AUDIT_PATH = "/admin/audit"
LOGIN_URL = f"/agent/login?next={AUDIT_PATH}"
PAGE_SIZE = 50

router = APIRouter(tags=["audit"], include_in_schema=False)


@router.get(AUDIT_PATH, response_class=HTMLResponse)
async def page(
    request: Request,
    user: PageUser,
    templates: TemplatesDep,
    session: SessionDep,
    action: Annotated[str, Query(max_length=48)] = "",
    actor: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The audit log, newest first: admins only."""
    if user is None:
        return RedirectResponse(LOGIN_URL, status.HTTP_303_SEE_OTHER)
    filters = {"action": action.strip(), "actor": actor.strip(), "since": since.strip()}
    context: dict[str, object] = {"user": user, "filters": filters, "forbidden": user.role != Role.ADMIN}
    if user.role == Role.ADMIN:
        try:
            found = await audit_page(
                session,
                action=filters["action"] or None,
                actor=filters["actor"] or None,
                since=parse_since(filters["since"]),
                before_id=before_id,
                limit=PAGE_SIZE,
            )
        except RequestValidationError:
            found, context["error"] = AuditPageOut(events=[], next_before_id=None), "“Since” is not a date."
        context["events"] = found.events
        if found.next_before_id is not None:
            older = {k: v for k, v in filters.items() if v} | {"before_id": found.next_before_id}
            context["older"] = f"{AUDIT_PATH}?{urlencode(older)}"
    response = templates.TemplateResponse(
        request,
        "audit.html",
        context,
        status_code=status.HTTP_403_FORBIDDEN if context["forbidden"] else status.HTTP_200_OK,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
