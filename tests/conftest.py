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

import atexit
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def pytest_configure(config: pytest.Config) -> None:
    """Each test session (and each xdist worker) gets Redis channels of its own, as if it had its own server.

    The app's workers find each other through Redis pub/sub, whose channels are global to the
    server: without this, a worker in one test would follow another test's announcements.
    """
    from webhook.runtime.events import RedisBus

    RedisBus.PREFIX = f"{RedisBus.PREFIX}test-{uuid.uuid4().hex[:8]}:"
    # The abuse limits are off in every app a test makes (and in the stack, which inherits the
    # environment), unless the test turns them on; tests/service/test_rate_limits.py does.
    os.environ.setdefault("RATE_LIMIT_ENABLED", "false")
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers > 1:
        share_the_cores(max(1, (os.cpu_count() or 1) // workers))


def share_the_cores(threads: int) -> None:
    """An xdist worker computes on its share of the cores: ONNX Runtime, PyTorch and the apps' encoders.

    Each defaults to a thread per core; two workers doing so on two cores slow each other
    down (an encoding that takes 1.4 s on one thread took 2.4 s on two, beside a twin doing
    the same). What the tests check does not depend on the number of threads.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "KB_ENCODER_THREADS"):
        os.environ.setdefault(name, str(threads))  # PyTorch, and the apps' Settings (also in the stack's processes)
    import onnxruntime

    default = onnxruntime.InferenceSession

    class SharingSession(default):  # type: ignore[misc,valid-type]
        def __init__(self, path: Any, sess_options: Any = None, *args: Any, **kwargs: Any) -> None:
            if sess_options is not None and sess_options.intra_op_num_threads == 0:
                sess_options.intra_op_num_threads = threads  # "one per core" becomes "this worker's share"
            super().__init__(path, sess_options, *args, **kwargs)

    onnxruntime.InferenceSession = SharingSession


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
    if hasattr(config, "workerinput"):  # an xdist worker: the longest work first, so that none is left for last
        items.sort(key=lambda item: xdist_rank(item.nodeid))


# -- running on several processes (pytest-xdist: ./test.sh runs the suite with -n 2 --dist loadgroup) ---------
# The tests go to the workers a module at a time, so that module-scoped fixtures are made once,
# except that the stack and browser tiers go together: they share the session's stack.
# (xdist's own xdist_group marker does not reach its scheduler under pytest 9, hence this.)
LONGEST = ("tests/service/test_optimise_job.py",)  # fine-tuning, several times over


def xdist_scope(nodeid: str) -> str:
    module = nodeid.split("::")[0]
    return "stack" if module.startswith(("tests/stack/", "tests/browser/")) else module


def xdist_rank(nodeid: str) -> int:
    scope = xdist_scope(nodeid)
    if scope == "stack" or scope in LONGEST:
        return 0
    return {"model": 1, "rasa": 1, "service": 2}.get(scope.split("/")[1] if scope.count("/") > 1 else "", 3)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: fine without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    config.option.loadscopereorder = False  # keep the workers' order: the longest scopes first
    return TierScheduling(config, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- knowledge base ---------------------------------------------------------------
@functools.cache
def shared_embedder() -> Any:
    """The real model, loaded once per test process."""
    from knowledge_base.embeddings import Embedder

    return Embedder(MODEL_DIR)


@pytest.fixture(scope="session")
def embedder():
    return shared_embedder()


@functools.cache
def demo_index() -> Path:
    """The demo help centre's saved index, built once per test process (removed at its exit)."""
    from knowledge_base.articles import load_markdown_dir
    from knowledge_base.search import KnowledgeBase

    folder = Path(tempfile.mkdtemp(prefix="larkspur-demo-index-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    KnowledgeBase(shared_embedder()).load(load_markdown_dir(DEMO), folder / "index")
    return folder / "index"


def seed_index(target: Path) -> Path:
    """Start an app's empty index folder as a copy of the demo's saved index.

    It is a cache, like the index ``prepare`` leaves for ./run.sh: the app uses it only if its
    stamp (the model and every indexed text) matches the articles it starts with, and rebuilds
    it otherwise. It spares each new app in a test the build of the same index.
    """
    if not target.exists():
        shutil.copytree(demo_index(), target)
    return target


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
    """The product as ./run.sh starts it, on free ports and a scratch database (its index seeded: ``seed_index``).

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
        "KB_INDEX_DIR": str(seed_index(work / "index")),
        "KB_CALIBRATION_FILE": str(thresholds),
        "PYTHONUNBUFFERED": "1",
        "RATE_LIMIT_ENABLED": "false",  # the tests come from one address, faster than a customer
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
    """Settings for an in-process app with the editor API on, in ``workdir`` (no Rasa; its index seeded)."""
    from webhook.settings import Settings

    values = {
        "database_url": f"sqlite:///{workdir / 'support.db'}",
        "kb_index_dir": extra.get("kb_index_dir") or seed_index(workdir / "index"),
        "rasa_url": "http://127.0.0.1:9",
        "editor_api_key": EDITOR_KEY,
        "kb_calibration_file": workdir / "calibration.json",
        "rate_limit_enabled": False,
    }
    return Settings(**(values | extra))
