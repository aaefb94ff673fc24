"""The rules of the house, checked by machine: layers, module sizes, typed routes.

The layers are import-linter contracts in ``pyproject.toml`` (docs/architecture.md,
"Layout"); this runs them in process, and also checks that they are live: an import
pointing up the layers, added to the real graph, must break them.
"""

from __future__ import annotations

import ast
import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.application import use_cases
from importlinter.domain.contract import registry

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("webhook", "actions", "knowledge_base")
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 300
LAYERS = [
    "webhook.pages",
    "webhook.api | webhook.channels",
    "webhook.services | webhook.listeners",
    "webhook.store | webhook.runtime",
    "webhook.domain",
]


@pytest.fixture(scope="module")
def import_options():  # type: ignore[no-untyped-def]
    configuration.configure()
    options = use_cases.read_user_options(str(ROOT / "pyproject.toml"))
    use_cases._register_contract_types(options)
    return options


@pytest.fixture(scope="module")
def import_graph(import_options):  # type: ignore[no-untyped-def]
    roots = import_options.session_options["root_packages"]
    return grimp.build_graph(*roots, include_external_packages=True, cache_dir=None)


def _contracts(options, graph):  # type: ignore[no-untyped-def]
    for contract_options in options.contracts_options:
        contract_class = registry.get_contract_class(contract_options["type"])
        contract = contract_class(
            name=contract_options["name"], session_options=options.session_options, contract_options=contract_options
        )
        yield contract, contract.check(copy.deepcopy(graph), verbose=False)


def test_the_import_contracts_hold(import_options, import_graph) -> None:  # type: ignore[no-untyped-def]
    broken = [contract.name for contract, check in _contracts(import_options, import_graph) if not check.kept]
    assert len(import_options.contracts_options) == 3
    assert not broken, f"broken import contracts: {broken}; .venv/bin/lint-imports shows the chains"


def test_the_contracts_say_what_the_docs_say() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["name"]: c for c in config["contracts"]}
    layered = [c for c in contracts.values() if c["type"] == "layers"]
    assert [c["layers"] for c in layered] == [LAYERS]
    forbidden = {
        tuple(c["source_modules"]): set(c["forbidden_modules"]) for c in contracts.values() if c["type"] == "forbidden"
    }
    assert {"webhook", "actions"} <= forbidden[("knowledge_base",)]
    assert {"fastapi", "sqlalchemy"} <= forbidden[("webhook.domain",)]
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for layer in ("domain", "store", "runtime", "services", "listeners", "channels", "api", "pages"):
        assert f"webhook/{layer}/" in architecture, f"docs/architecture.md does not describe webhook/{layer}/"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("webhook.domain.enums", "webhook.store.schema"),  # domain below store
        ("webhook.store.conversations", "webhook.services.conversations"),  # store below services
        ("webhook.services.articles", "webhook.api.deps"),  # services below api
        ("webhook.api.deps", "webhook.channels.rasa_actions"),  # api and channels are independent
        ("webhook.domain.learning", "sqlalchemy"),  # the domain has no database
        ("knowledge_base.search", "webhook.settings"),  # knowledge_base stands alone
    ],
)
def test_an_import_against_the_rules_breaks_a_contract(import_options, import_graph, importer, imported) -> None:  # type: ignore[no-untyped-def]
    graph = copy.deepcopy(import_graph)
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert any(not check.kept for _, check in _contracts(import_options, graph))


def _definitions() -> Iterator[tuple[str, str, int, str]]:
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    assert node.end_lineno is not None
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    yield kind, where, node.end_lineno - node.lineno + 1, node.name


def test_no_function_over_80_lines_and_no_class_over_300() -> None:
    definitions = list(_definitions())
    assert len(definitions) > 500  # the walk found the code
    too_long = [
        f"{where} ({lines} lines)"
        for kind, where, lines, _ in definitions
        if lines > (MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES)
    ]
    assert not too_long, "split these:\n" + "\n".join(too_long)


def test_the_webhook_package_holds_only_wiring_at_its_top() -> None:
    modules = sorted(p.name for p in (ROOT / "webhook").glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "app.py", "settings.py"]
    # beside them: the layers' packages and the command line (one module per group of commands)
    packages = sorted(p.parent.name for p in (ROOT / "webhook").glob("*/__init__.py"))
    layers = sorted(name.strip().removeprefix("webhook.") for row in LAYERS for name in row.split("|"))
    assert packages == sorted([*layers, "cli"])


def _api_routes(routes: list[Any]) -> Iterator[Any]:
    """Every APIRoute, including those of included routers (FastAPI keeps them behind a wrapper)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _api_routes(route.original_router.routes)


def test_every_json_route_declares_its_response() -> None:
    from fastapi.responses import JSONResponse

    from webhook.app import create_app
    from webhook.settings import Settings

    app = create_app(Settings(editor_api_key="x"))
    routes = list(_api_routes(app.routes))
    assert len(routes) > 30
    json_routes = [r for r in routes if r.status_code != 204 and (_default_json(r) or r.response_class is JSONResponse)]
    untyped = [f"{sorted(r.methods)} {r.path}" for r in json_routes if r.response_model is None]
    assert not untyped, f"routes without a response model: {untyped}"


def _default_json(route: Any) -> bool:
    """Whether the route answers with FastAPI's default JSON response class."""
    from fastapi.datastructures import DefaultPlaceholder

    return isinstance(route.response_class, DefaultPlaceholder)
