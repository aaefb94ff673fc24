"""Rasa's action endpoint, served by this app (rasa-sdk's executor, mounted here).

Rasa posts an action call; the executor runs the action from the ``actions``
package and returns events and messages. Running it in this process lets the
actions use the knowledge base that is already loaded here, so an edit to an
article is visible to the bot the moment the index changes. The app builds the
executor once (:func:`build_executor`) and keeps it on ``app.state.action_executor``.

The endpoint is on the public port, so only Rasa may call it: Rasa sends the shared
secret ``ACTION_ENDPOINT_TOKEN`` in the ``X-Action-Token`` header (``bot/endpoints.yml``;
the launcher makes one per run and gives it to both processes). It is checked, in
constant time, before a byte of the body is read; without a configured token every
call is refused. A body is read only up to ``MAX_ACTION_BODY_BYTES``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult, ActionName
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException

from webhook.channels.deps import settings

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Action-Token"

router = APIRouter(prefix="/webhook", tags=["rasa action endpoint"], include_in_schema=False)


class BodyTooLarge(Exception):
    """The action call is longer than the configured limit (nothing past the limit was read)."""


def build_executor() -> ActionExecutor:
    """An executor with every action of the ``actions`` package registered."""
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def action_executor(connection: HTTPConnection) -> ActionExecutor:
    executor: ActionExecutor = connection.app.state.action_executor
    return executor


Executor = Annotated[ActionExecutor, Depends(action_executor)]

_warned_unconfigured = False


def token_matches(expected: str, given: str | None) -> bool:
    """Whether the caller sent the shared secret; in constant time, and never for an empty secret."""
    if not expected:
        global _warned_unconfigured
        if not _warned_unconfigured:
            _warned_unconfigured = True
            log.warning(
                "ACTION_ENDPOINT_TOKEN is empty: every call to /webhook/actions is refused "
                "(`python -m webhook run` makes one and gives it to Rasa)"
            )
        return False
    return hmac.compare_digest((given or "").encode(), expected.encode())


def rasa_only(connection: HTTPConnection) -> None:
    """Refuse a caller without the shared secret (401), before the body is read."""
    if not token_matches(settings(connection).action_endpoint_token, connection.headers.get(TOKEN_HEADER)):
        raise HTTPException(401, f"the action endpoint needs the {TOKEN_HEADER} header Rasa is given")


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, reading at most ``limit`` bytes (its declared length is checked first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _refusal(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


@router.post("/actions", response_model=ActionExecutorRunResult | None, dependencies=[Depends(rasa_only)])
async def run_action(request: Request, executor: Executor) -> JSONResponse:
    """Run one action call from Rasa; errors in the shape rasa-sdk's own server gives them."""
    limit = settings(request).max_action_body_bytes
    try:
        action_call: Any = json.loads(await read_body(request, limit))
    except BodyTooLarge:
        return _refusal(413, "too_large", f"an action call may be at most {limit} bytes")
    except (ValueError, RecursionError):
        return _refusal(400, "malformed_json", "the body is not a JSON action call")
    if not isinstance(action_call, dict):
        return _refusal(400, "malformed_json", "the body is not a JSON action call")
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


@router.get("/actions", response_model=list[ActionName], dependencies=[Depends(rasa_only)])
async def list_actions(executor: Executor) -> list[ActionName]:
    """The names of the registered actions."""
    return executor.list_actions()
