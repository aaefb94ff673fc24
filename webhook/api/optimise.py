"""The editor API's model jobs: fine-tune the embedding model on the help centre, go back to the base model, cancel.

Every route needs the ``X-API-Key`` header to equal ``EDITOR_API_KEY``. A job runs
in the background; each route answers with the model in use and the latest job.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from webhook.api.deps import EditorKey, OptimiserDep
from webhook.api.errors import raised_as
from webhook.domain.errors import JobRunning, NoJobRunning
from webhook.services.optimise import Optimiser
from webhook.services.optimise_board import JobKind, OptimiseStatus

router = APIRouter(prefix="/api/kb/optimise", tags=["knowledge base"], dependencies=[EditorKey])


class OptimiseIn(BaseModel):
    epochs: int | None = Field(
        default=None, ge=1, le=20, description="passes over the phrasings; default: enough for about 100 steps"
    )


@router.get("", response_model=OptimiseStatus)
async def optimise_status(optimiser: OptimiserDep) -> OptimiseStatus:
    """The model in use, and the state of the last optimise or revert job (with its progress)."""
    return optimiser.describe()


@router.post("", response_model=OptimiseStatus, status_code=status.HTTP_202_ACCEPTED)
async def optimise(optimiser: OptimiserDep, body: OptimiseIn | None = None) -> OptimiseStatus:
    """Fine-tune the model on the published articles' phrasings in the background, then switch to it."""
    return _start(optimiser, "optimise", (body or OptimiseIn()).epochs)


@router.post("/revert", response_model=OptimiseStatus, status_code=status.HTTP_202_ACCEPTED)
async def revert(optimiser: OptimiserDep) -> OptimiseStatus:
    """Go back to the base model (KB_MODEL), in the background."""
    return _start(optimiser, "revert", None)


@router.post("/cancel", response_model=OptimiseStatus)
async def cancel_optimise(optimiser: OptimiserDep) -> OptimiseStatus:
    """Stop the running optimise or revert job; the model in use stays."""
    with raised_as((NoJobRunning, status.HTTP_409_CONFLICT)):
        optimiser.cancel()
    return optimiser.describe()


def _start(optimiser: Optimiser, kind: JobKind, epochs: int | None) -> OptimiseStatus:
    """Start a job: 409 while one runs (here or in another worker), 422 when there is nothing to do."""
    with raised_as((JobRunning, status.HTTP_409_CONFLICT), (ValueError, status.HTTP_422_UNPROCESSABLE_CONTENT)):
        optimiser.start(kind, epochs)
    return optimiser.describe()
