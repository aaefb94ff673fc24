"""The admins' privacy API: export one customer's data, or erase it everywhere.

``{ref}`` names the customer by what an admin has at hand: our customer id, one of
their conversation ids, ``telegram:<user id>``, ``web:<session token>``,
``web:user:<verified id>`` or an e-mail address a verified identity carries. Both
routes are recorded in the audit log (``customer.exported``, ``customer.erased``).
The same is on the command line: ``python -m webhook export-customer|erase-customer``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from webhook.api.deps import AdminUser, CustomerDataDep
from webhook.api.errors import ErrorOut, raised_as
from webhook.api.rate_limits import connection_ip
from webhook.domain.errors import CustomerNotFound, TrackerStoreUnavailable
from webhook.store.customer_data import MAX_REF_CHARS
from webhook.store.customer_records import CustomerExport, ErasureReport

router = APIRouter(prefix="/api/admin/customers", tags=["privacy"])

Ref = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_REF_CHARS,
        description="customer id, conversation id, telegram:<user id>, web:<session token>, or an e-mail address",
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not signed in"},
    403: {"model": ErrorOut, "description": "signed in, but not an admin"},
    404: {"model": ErrorOut, "description": "no customer matches (an erased one included)"},
}


@router.get("/{ref}/export", response_model=CustomerExport, responses=_ERRORS)
async def export_customer(ref: Ref, admin: AdminUser, data: CustomerDataDep, request: Request) -> CustomerExport:
    """Everything we hold about one customer, as JSON: their answer to a data-access request."""
    with raised_as((CustomerNotFound, 404)):
        return await data.export(ref, admin, connection_ip(request))


@router.delete(
    "/{ref}",
    response_model=ErasureReport,
    responses=_ERRORS | {503: {"model": ErrorOut, "description": "Rasa's tracker store failed: nothing was erased"}},
)
async def erase_customer(ref: Ref, admin: AdminUser, data: CustomerDataDep, request: Request) -> ErasureReport:
    """Erase one customer everywhere (our tables, Rasa's trackers); the rows per table come back.

    Their conversations stay only as anonymous skeletons, so the metrics keep their counts.
    Erasing again is a 404.
    """
    with raised_as((CustomerNotFound, 404), (TrackerStoreUnavailable, 503)):
        return await data.erase(ref, admin, connection_ip(request))
