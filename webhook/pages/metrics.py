"""The admins' metrics page, ``/metrics``: a shell whose script (``static/metrics.js``) reads ``GET /api/metrics``.

The script fetches the JSON with the console's cookie, so the page and the API can
never disagree.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webhook.api.deps import PageUser
from webhook.domain.enums import Role
from webhook.pages.deps import TemplatesDep

LOGIN_URL = "/agent/login?next=/metrics"

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, user: PageUser, templates: TemplatesDep) -> Response:
    """The dashboard: admins only; without a session, off to the sign-in page and back."""
    if user is None:
        return RedirectResponse(LOGIN_URL, status.HTTP_303_SEE_OTHER)
    forbidden = user.role != Role.ADMIN
    response = templates.TemplateResponse(
        request,
        "metrics.html",
        {"user": user, "forbidden": forbidden},
        status_code=status.HTTP_403_FORBIDDEN if forbidden else status.HTTP_200_OK,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
