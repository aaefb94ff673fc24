"""The service tier's fixtures: Rasa faked in process (tests/service/fake_rasa.py), the rest real.

``rasa`` is a :class:`RasaClient` of a fresh :class:`FakeRasa`, whose actions answer from
``dialogue_kb``: the demo help centre on the real model, with the stack's fixed thresholds.
``chat_app`` is the product's app in process, its Rasa client pointed at the fake, on a
database of each backend; the fake is ``chat_app.rasa``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from actions import context as action_context
from tests.conftest import DATABASES, DIALOGUE_THRESHOLDS, fresh_database, seed_index
from tests.service.fake_rasa import FakeRasa
from webhook.runtime.rasa_client import RasaClient

LINK_BASE = "http://support.example"


@pytest.fixture(scope="session")
def dialogue_kb(embedder: Any, demo_articles: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo help centre on the real model, with the thresholds the stack runs on."""
    from knowledge_base.search import KnowledgeBase, Thresholds

    kb = KnowledgeBase(embedder, Thresholds(**DIALOGUE_THRESHOLDS))
    kb.load(demo_articles, seed_index(tmp_path_factory.mktemp("dialogue-kb") / "index"))
    return kb


@pytest.fixture
def fake_rasa(dialogue_kb: Any) -> Iterator[FakeRasa]:
    """A fresh fake Rasa; its actions answer from ``dialogue_kb`` (the app's own KB when an app runs)."""
    try:
        before: action_context.ActionContext | None = action_context.current()
    except RuntimeError:
        before = None
    action_context.configure(action_context.ActionContext(dialogue_kb, LINK_BASE))
    try:
        yield FakeRasa()
    finally:
        action_context.configure(before)


@pytest.fixture
async def rasa(fake_rasa: FakeRasa) -> AsyncIterator[RasaClient]:
    client = fake_rasa.client()
    yield client
    await client.close()


@dataclass
class ChatApp:
    """The app in process (``http``: a TestClient) with the fake Rasa it talks to, and its database."""

    http: TestClient
    rasa: FakeRasa
    database_url: str


@pytest.fixture(scope="module", params=DATABASES)
def chat_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatApp]:
    """The product's app, its lifespan and all, with Rasa replaced by a fake; one per module and backend."""
    import webhook.app
    from webhook.settings import Settings

    work = tmp_path_factory.mktemp("chat-app")
    thresholds = work / "calibration.json"
    thresholds.write_text(json.dumps({"thresholds": DIALOGUE_THRESHOLDS}))
    fake = FakeRasa()
    with fresh_database(request.param, work) as database_url, pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhook.app, "RasaClient", _faked(fake))
        settings = Settings(
            database_url=database_url,
            kb_index_dir=seed_index(work / "index"),
            kb_calibration_file=thresholds,
            public_url=LINK_BASE,
            rasa_url="http://rasa.fake:5005",
            rasa_token=fake.token,
            rate_limit_enabled=False,
        )
        with TestClient(webhook.app.create_app(settings)) as http:
            assert http.app.state.rasa.http._transport is fake.transport, "the app must talk to the fake Rasa"
            yield ChatApp(http, fake, database_url)


def _faked(fake: FakeRasa) -> type[RasaClient]:
    class FakedRasaClient(RasaClient):
        def __init__(self, base_url: str, token: str = "", timeout_s: float = 30.0, transport: Any = None) -> None:
            super().__init__(base_url, token, timeout_s, transport=fake.transport)

    return FakedRasaClient


def stored(database_url: str, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Read the app's database directly (what is stored is what counts), on either backend."""
    from sqlalchemy import create_engine, text

    from webhook.store.database import sync_url

    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()
