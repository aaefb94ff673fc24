"""The API's error answers: one shape, ``{"error": code, "detail": text}``, on every /api/ route.

``install_error_handlers`` puts the handlers on the app; ``raised_as`` turns the
product's own errors (:mod:`webhook.domain.errors`) into HTTP errors with the same
shape, each route saying which status each error group gets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

ErrorKinds = type[Exception] | tuple[type[Exception], ...]


class ErrorOut(BaseModel):
    error: str
    detail: str | None = None


class Problem(BaseModel):
    field: str = Field(description="where, dotted: text, query.from, items.0.title")
    problem: str | None = Field(description="what is wrong with it")


class InvalidRequestOut(BaseModel):
    """The 422 every route answers for a request that breaks its schema (:func:`invalid_request`)."""

    error: Literal["invalid_request"]
    detail: list[Problem]


async def http_error(request: Request, exc: Exception) -> Response:
    """API errors share one shape: {"error": code, "detail": text}. Pages keep the default."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    if exc.status_code == 400 and "json" in request.headers.get("content-type", ""):
        # FastAPI's "error parsing the body": the bytes are not UTF-8
        return JSONResponse({"error": "malformed_json", "detail": "the body is not valid UTF-8 JSON"}, 400)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return JSONResponse({"error": code, "detail": exc.detail}, exc.status_code, headers=exc.headers)


async def invalid_request(_request: Request, exc: Exception) -> Response:
    """A body that is not JSON is 400 ``malformed_json``; a request that breaks its schema, 422 with each problem."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"error": "malformed_json", "detail": "the body is not valid JSON"}, status_code=400)
    detail = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg")} for e in errors
    ]
    return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    _describe_invalid_requests(app)


def _describe_invalid_requests(app: FastAPI) -> None:
    """The OpenAPI document declares the 422 we send, not FastAPI's default ``HTTPValidationError``.

    FastAPI puts ``HTTPValidationError`` on every route with parameters; here its schema becomes
    ours: :class:`InvalidRequestOut` for a request that breaks its schema, or :class:`ErrorOut`
    for one a route refuses itself (``unprocessable_entity``), so clients (and the fuzzer) check 422s too.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                ours = TypeAdapter(InvalidRequestOut | ErrorOut).json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                for name, schema in ours.pop("$defs", {}).items():
                    schemas.setdefault(name, schema)
                schemas["HTTPValidationError"] = {"title": "Unprocessable", **ours}
                schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@contextmanager
def raised_as(*statuses: tuple[ErrorKinds, int]) -> Iterator[None]:
    """Raise the listed errors as HTTP errors with their message as the detail; the first match wins.

    ``with raised_as((NotFound, 404), (StateConflict, 409)): ...``
    """
    try:
        yield
    except Exception as exc:
        for kinds, code in statuses:
            if isinstance(exc, kinds):
                raise HTTPException(code, str(exc)) from exc
        raise
