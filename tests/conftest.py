"""Shared fixtures: the real embedding model, real databases, and the real stack.

The suite is in tiers, one folder each (see tests/README.md): ``unit`` (no processes, no
network, no model), ``service`` (the app in process on real databases, Rasa faked),
``model`` (the real embedding model in process), ``stack`` (the real Rasa server and
the web service as processes), ``browser`` (Chromium against the stack) and ``rasa``
(Rasa's own test stories and data validation). Each test gets its tier's marker.

Nothing here is mocked. ``stack`` starts ``python -m webhook run`` (the web
service and the trained Rasa server) once per session on free ports, for the stack
and browser tiers alike. PostgreSQL joins the database-parametrised tests when
TEST_POSTGRES_URL is set; if it is set and unreachable, those tests fail rather than skip.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"
RASA_MODEL = ROOT / "models" / "rasa" / "support.tar.gz"
DEMO = ROOT / "knowledge_base" / "demo"
ARTIFACTS = ROOT / "test-artifacts"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()


# What each tier needs built before it runs (./test.sh builds it all).
TIERS = ("unit", "service", "model", "stack", "browser", "rasa")
BUILD_OUTPUT = {
    "unit": (),
    "service": (MODEL_DIR,),
    "model": (MODEL_DIR,),
    "stack": (MODEL_DIR, RASA_MODEL),
    "browser": (MODEL_DIR, RASA_MODEL),
    "rasa": (RASA_MODEL,),
}
# The stack's thresholds, and the service tier's knowledge base behind the fake Rasa: fixed, not
# calibrated, as those tests are about the dialogue and need each decision reachable by a clear margin.
DIALOGUE_THRESHOLDS = {"answer": 0.76, "clarify": 0.70, "margin": 0.01}


def pytest_sessionstart(session: pytest.Session) -> None:
    ARTIFACTS.mkdir(exist_ok=True)


def tier_of(item: pytest.Item) -> str | None:
    parts = item.path.relative_to(ROOT / "tests").parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (``-m "not stack"``), and stop at once if what it needs is not built."""
    needed: set[Path] = set()
    for item in items:
        tier = tier_of(item)
        needed.update(BUILD_OUTPUT.get(tier or "", (MODEL_DIR, RASA_MODEL)))
        if tier is not None:
            item.add_marker(tier)
        if tier in ("stack", "browser"):
            item.add_marker("e2e")
    missing = sorted(str(p) for p in needed if not p.exists())
    if missing:
        pytest.exit(f"missing build output {missing}: run ./test.sh, which builds it", returncode=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- knowledge base ---------------------------------------------------------------
@pytest.fixture(scope="session")
def embedder():
    from knowledge_base.embeddings import Embedder

    return Embedder(MODEL_DIR)


@pytest.fixture(scope="session")
def demo_articles():
    from knowledge_base.articles import load_markdown_dir

    return load_markdown_dir(DEMO)


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory, embedder, demo_articles) -> Path:
    """Thresholds calibrated on the demo's labelled set, as setup makes them (never the developer's own)."""
    from knowledge_base.calibration import calibrate_knowledge_base
    from knowledge_base.evaluation import load_questions
    from knowledge_base.search import KnowledgeBase

    kb = KnowledgeBase(embedder)
    kb.load(demo_articles)
    path = tmp_path_factory.mktemp("calibration") / "calibration.json"
    calibrate_knowledge_base(kb, load_questions(DEMO / "calibration.jsonl"), path, source="tests")
    return path


@pytest.fixture(scope="session")
def demo_kb(embedder, demo_articles, calibration_file):
    from knowledge_base.calibration import load_thresholds, load_weights
    from knowledge_base.search import KnowledgeBase

    kb = KnowledgeBase(embedder, load_thresholds(calibration_file), load_weights(calibration_file))
    kb.load(demo_articles)
    return kb


# -- the browser ----------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through sync Playwright, one per test module.

    Module scope is deliberate: sync Playwright runs its own event loop, which clashes
    with pytest-asyncio's session loop if it outlives the module that uses it.
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: ./test.sh installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


# -- databases --------------------------------------------------------------------
DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in ``folder``, or a PostgreSQL schema of its own."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'support.db'}"
        return
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}", pytrace=False)
    separator = "&" if "?" in plain else "?"
    try:
        yield f"{plain}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test, on each backend in DATABASES."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(database_url):
    """A migrated database with an open engine, on each backend in DATABASES."""
    from webhook.store.database import Database, migrate

    migrate(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


# -- the running product ----------------------------------------------------------
@dataclass
class Stack:
    base_url: str
    rasa_url: str
    rasa_token: str
    database_url: str
    process: subprocess.Popen[bytes]
    output: list[str]
    telegram: Any  # the FakeTelegram the product's bot talks to
    webhook_secret: str
    identity_secret: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/chat"

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the product's database directly (what is stored is what counts)."""
        import sqlite3

        with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql, params).fetchall()

    def chat(self, session: str, text: str, **extra: object) -> httpx.Response:
        return httpx.post(f"{self.base_url}/api/chat", json={"session": session, "text": text, **extra}, timeout=60)

    def tracker(self, sender_id: str) -> dict:
        response = httpx.get(f"{self.rasa_url}/conversations/{sender_id}/tracker", params={"token": self.rasa_token})
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def telegram_api() -> Iterator[Any]:
    """The fake Telegram Bot API server (Telegram's cloud is the one thing that cannot be here)."""
    from tests.fake_telegram import FakeTelegram

    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, telegram_api) -> Iterator[Stack]:
    """The product as ./run.sh starts it, on free ports and a scratch database.

    Its Telegram bot runs in webhook mode against the fake Bot API server. Its
    thresholds are fixed (answer >= 0.76 with a 0.01 lead, clarify >= 0.70) rather
    than calibrated: these tests are about the dialogue, and need each of the three
    decisions reachable by a clear margin; calibration has tests of its own.
    """
    work = tmp_path_factory.mktemp("stack")
    thresholds = work / "calibration.json"
    thresholds.write_text(json.dumps({"thresholds": DIALOGUE_THRESHOLDS}))
    port, rasa_port = free_port(), free_port()
    token = uuid.uuid4().hex
    secret = uuid.uuid4().hex
    identity_secret = uuid.uuid4().hex
    env = {
        **os.environ,
        "WIDGET_IDENTITY_SECRET": identity_secret,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_BOT_TOKEN": telegram_api.token,
        "TELEGRAM_WEBHOOK_SECRET": secret,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "PORT": str(port),
        "RASA_PORT": str(rasa_port),
        "RASA_TOKEN": token,
        "DATABASE_URL": f"sqlite:///{work / 'support.db'}",
        "RASA_TRACKER_DB": str(work / "rasa-tracker.db"),
        "KB_INDEX_DIR": str(work / "index"),
        "KB_CALIBRATION_FILE": str(thresholds),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "webhook", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            output.append(line)
            if "Press Ctrl-C to stop" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 420
    while not ready.wait(1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            (ARTIFACTS / "stack.log").write_text("\n".join(output))
            pytest.fail(f"the stack did not start (exit {process.returncode}); see test-artifacts/stack.log")
    stack = Stack(
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{rasa_port}",
        token,
        env["DATABASE_URL"],
        process,
        output,
        telegram_api,
        secret,
        identity_secret,
    )
    try:
        yield stack
    finally:
        # Ctrl-C must stop everything cleanly, with status 0.
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = -9
        (ARTIFACTS / "stack.log").write_text("\n".join(output))
        assert code == 0, f"python -m webhook run exited {code} on SIGINT; see test-artifacts/stack.log"


EDITOR_KEY = "editor-secret-key"
EDITOR_AUTH = {"X-API-Key": EDITOR_KEY}
LOCKER_ARTICLE = {
    "title": "Can I rent a luggage locker at the store?",
    "body": "Yes: lockers by the entrance, 2 EUR a day, paid at the till.",
    "questions": ["where can I leave my suitcase", "luggage storage in the shop"],
    "publish": True,
}


def editor_settings(workdir: Path, **extra: Any) -> Any:
    """Settings for an in-process app with the editor API on, in ``workdir`` (no Rasa)."""
    from webhook.settings import Settings

    values = {
        "database_url": f"sqlite:///{workdir / 'support.db'}",
        "kb_index_dir": workdir / "index",
        "rasa_url": "http://127.0.0.1:9",
        "editor_api_key": EDITOR_KEY,
        "kb_calibration_file": workdir / "calibration.json",
    }
    return Settings(**(values | extra))
