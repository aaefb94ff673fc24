"""Rasa's action endpoint, served by this app (rasa-sdk's executor, mounted here).

Rasa posts an action call; the executor runs the action from the ``actions``
package and returns events and messages. Running it in this process lets the
actions use the knowledge base that is already loaded here, so an edit to an
article is visible to the bot the moment the index changes. The app builds the
executor once (:func:`build_executor`) and keeps it on ``app.state.action_executor``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult, ActionName
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhook", tags=["rasa action endpoint"], include_in_schema=False)


def build_executor() -> ActionExecutor:
    """An executor with every action of the ``actions`` package registered."""
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def action_executor(connection: HTTPConnection) -> ActionExecutor:
    executor: ActionExecutor = connection.app.state.action_executor
    return executor


Executor = Annotated[ActionExecutor, Depends(action_executor)]


@router.post("/actions", response_model=ActionExecutorRunResult | None)
async def run_action(executor: Executor, action_call: dict[str, Any] = Body(...)) -> JSONResponse:
    """Run one action call from Rasa; errors in the shape rasa-sdk's own server gives them."""
    try:
        result = await executor.run(action_call)
    except ActionExecutionRejection as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=400)
    except ActionNotFoundException as exc:
        log.error("%s", exc)
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=404)
    except ActionMissingDomainException as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=449)
    return JSONResponse(result.model_dump() if result else None)


@router.get("/actions", response_model=list[ActionName])
async def list_actions(executor: Executor) -> list[ActionName]:
    """The names of the registered actions."""
    return executor.list_actions()
