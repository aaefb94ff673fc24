"""Rasa's action endpoint, served by this app (rasa-sdk's executor, mounted here).

Rasa posts an action call; the executor runs the action from the ``actions``
package and returns events and messages. Running it in this process lets the
actions use the knowledge base that is already loaded here, so an edit to an
article is visible to the bot the moment the index changes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException

log = logging.getLogger(__name__)


def build_executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def action_router(executor: ActionExecutor) -> APIRouter:
    router = APIRouter(prefix="/webhook", tags=["rasa action endpoint"], include_in_schema=False)

    @router.post("/actions")
    async def run_action(action_call: dict[str, Any] = Body(...)) -> JSONResponse:
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

    @router.get("/actions")
    async def list_actions() -> list[dict[str, str]]:
        return [{"name": a.name} for a in executor.list_actions()]

    return router
