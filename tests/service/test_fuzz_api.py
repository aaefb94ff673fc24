"""Property-based fuzzing of every route in our OpenAPI schema (schemathesis): no answer is a 5xx.

Each operation gets ``EXAMPLES`` generated requests, valid and invalid ones (schemathesis's
positive and negative modes), against the real app on a real server (``fuzz_support``):
SQLite, and PostgreSQL when TEST_POSTGRES_URL is set. The runs are the same every time
(``derandomize``, no example database). Authenticated routes are called as a signed-in
admin, the editor API mostly with the right key (never where it would start fine-tuning,
minutes of CPU that test_optimise_job.py covers), and ids in paths are half the time the
seeded conversation's, an article's or a customer's, so the fuzzer gets past 401 and 404.

Half the examples also get a hostile value in place of one of the strings or integers
schemathesis made (``make_hostile``): lone UTF-16 surrogates (sent as JSON escapes), NUL, empty
strings, very long or odd Unicode, integers past 64 bits, and a small pool of values reused
across examples (a shared session, an empty ``client_message_id``). Half the requests are sent
twice in a row, so that duplicates meet (an idempotency key, a unique constraint). Schemathesis
itself never generates a surrogate, and rarely the same value twice. The customers' chat
routes get ``CUSTOMER_EXAMPLES`` each: they are public, and what they are sent is stored.

Every response must be below 500, and a 2xx or a 422 must match its declared response schema.
The module prints how many requests were made and how many were 5xx (``pytest -s``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import checks

from tests.conftest import DATABASES, EDITOR_KEY
from tests.service.fuzz_support import ODD_INTEGERS, LiveApp, hostile_text, live_app
from webhook.api.optimise import OptimiseIn

EXAMPLES = 25  # per operation and database; about 40 operations
CUSTOMER_EXAMPLES = 100  # the customers' chat routes: public, and where what they send is stored
CUSTOMER_ROUTES = "^/api/chat"


def served_schema() -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json (it does not depend on the database)."""
    from webhook.app import create_app
    from webhook.settings import Settings

    return create_app(Settings(editor_api_key=EDITOR_KEY, rate_limit_enabled=False)).openapi()


SCHEMA = schemathesis.openapi.from_dict(served_schema())
CUSTOMERS = SCHEMA.include(path_regex=CUSTOMER_ROUTES)
OTHERS = SCHEMA.exclude(path_regex=CUSTOMER_ROUTES)
_turn = itertools.count()


def _sendable_in_url(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF for c in text)


Leaf = tuple[str, tuple[Any, ...]]  # where a string or integer sits: "body", "query" or "path", and its keys


def leaves(value: Any, where: str, keys: tuple[Any, ...] = ()) -> list[Leaf]:
    """Every string and integer in a JSON value (booleans are not integers here)."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, where, (*keys, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, where, (*keys, i))]
    return [(where, keys)] if isinstance(value, (str, int)) and not isinstance(value, bool) else []


def replaced(value: Any, keys: tuple[Any, ...], new: Any) -> Any:
    if not keys:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[keys[0]] = replaced(value[keys[0]], keys[1:], new)
    return copy


def make_hostile(case: schemathesis.Case, data: st.DataObject) -> None:
    """On half the examples, one string or integer of the body, query or path becomes a hostile one.

    One only: the rest of the request stays as schemathesis made it (valid, in positive mode), so
    the hostile value gets past validation of the other fields to where it is stored or used.
    """
    parts = {"body": case.body, "query": case.query, "path": case.path_parameters}
    found = [leaf for where, value in parts.items() if isinstance(value, (dict, list)) for leaf in leaves(value, where)]
    if not found or not data.draw(st.booleans(), label="hostile"):
        return
    where, keys = data.draw(st.sampled_from(found), label="where")
    case.freeze_metadata()  # it describes what schemathesis made; re-validating a lone surrogate would fail
    old = parts[where]
    for key in keys[:-1]:
        old = old[key]
    if isinstance(old[keys[-1]], int):
        new = data.draw(st.sampled_from(ODD_INTEGERS), label="integer")
    else:  # a URL cannot carry a lone surrogate; a JSON escape can
        new = data.draw(hostile_text if where == "body" else hostile_text.filter(_sendable_in_url), label="text")
    if where == "body":
        case.body = replaced(case.body, keys, new)
    elif where == "query":
        case.query = replaced(dict(case.query), keys, new)
    else:
        case.path_parameters = replaced(dict(case.path_parameters), keys, new)


@pytest.fixture(scope="module", params=DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(request.param, tmp_path_factory.mktemp("fuzz-api")) as app:
        yield app
        counts = app.counts
        print(f"\nfuzz HTTP ({request.param}): {counts['requests']} requests, {counts['5xx']} 5xx")


def starts_a_job(case: schemathesis.Case) -> bool:
    """Whether this call would start fine-tuning: minutes of CPU, which test_optimise_job.py covers."""
    if case.method.upper() != "POST" or case.path != "/api/kb/optimise":
        return False
    if case.body is None or isinstance(case.body, schemathesis.core.NotSet):
        return True
    try:
        OptimiseIn.model_validate(case.body)
    except ValidationError:
        return False
    return True


def credentials(case: schemathesis.Case, app: LiveApp, turn: int) -> dict[str, str]:
    """The headers that get this call past authentication, and the seeded ids in its path on even turns."""
    seeded = app.seeded
    if turn % 2 == 0:
        if "conversation_id" in case.path_parameters:
            case.path_parameters["conversation_id"] = seeded.conversation_id
        if "key" in case.path_parameters:
            case.path_parameters["key"] = seeded.article_keys[turn % len(seeded.article_keys)]
        if "ref" in case.path_parameters:
            case.path_parameters["ref"] = seeded.customer_refs[turn // 2 % len(seeded.customer_refs)]
    headers: dict[str, str] = {}
    if case.operation.definition.raw.get("security"):
        spend = case.path == "/api/agent/logout" and seeded.spare_tokens
        token = seeded.spare_tokens.pop() if spend else seeded.admin_token
        headers["Authorization"] = f"Bearer {token}"
    declares_key = any(p.name.lower() == "x-api-key" for p in case.operation.headers)
    if declares_key and turn % 4 != 3 and not starts_a_job(case):
        case.headers["x-api-key"] = EDITOR_KEY
    return headers


def fuzz(case: schemathesis.Case, data: st.DataObject, live: LiveApp) -> None:
    """Send one generated request (hostile on half the examples), and on half of them send it again at once.

    The repeat is how duplicates meet: a resend with the same idempotency key, a second row
    where a unique constraint allows one (``client_message_id: ""`` was a 500 that way).
    """
    make_hostile(case, data)
    headers = credentials(case, live, next(_turn))
    # Sent as schemathesis would (its transport's arguments), by requests itself: Case.call re-validates a
    # changed body against the schema first, and its validator cannot take a lone surrogate.
    request = case.as_transport_kwargs(base_url=live.base_url, headers=headers)
    for _ in range(2 if data.draw(st.booleans(), label="repeat") else 1):
        response = live.http.request(**request, timeout=120)
        live.counts["requests"] += 1
        live.counts["5xx"] += response.status_code >= 500
        case.validate_response(response, checks=[checks.not_a_server_error])
        if 200 <= response.status_code < 300 or response.status_code == 422:
            case.validate_response(response, checks=[checks.response_schema_conformance])


SETTINGS = {"derandomize": True, "database": None, "deadline": None, "suppress_health_check": list(HealthCheck)}


@CUSTOMERS.parametrize()
@CUSTOMERS.given(data=st.data())
@settings(max_examples=CUSTOMER_EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
def test_no_customer_route_answers_a_server_error(case: schemathesis.Case, data: st.DataObject, live: LiveApp) -> None:
    fuzz(case, data, live)


@OTHERS.parametrize()
@OTHERS.given(data=st.data())
@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
def test_no_other_route_answers_a_server_error(case: schemathesis.Case, data: st.DataObject, live: LiveApp) -> None:
    fuzz(case, data, live)
