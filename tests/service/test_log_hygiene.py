"""No token or customer text in any log line: uvicorn's request and handshake lines, and SQL errors.

The web service runs as ``python -m webhook run`` starts it (uvicorn's command line,
``--factory``), here with its access log on and at debug level, so that every line uvicorn
and the WebSocket library can write about a request is written; the test reads them all.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ROOT, free_port, seed_index
from webhook.domain.enums import Channel, Sender
from webhook.store.database import Database
from webhook.store.schema import Conversation, Customer, Message

MARKER = "secret-marker"


class Server:
    """The web service in a child process, every line it writes kept."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{work / 'support.db'}",
            "KB_INDEX_DIR": str(seed_index(work / "index")),
            "KB_CALIBRATION_FILE": str(work / "calibration.json"),
            "RASA_URL": "http://127.0.0.1:9",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "uvicorn", "webhook.app:create_app", "--factory", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--log-level", "debug"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        pytest.fail("the web service did not start:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("log-hygiene"))
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def wait_for_line(server: Server, needle: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(needle in line for line in server.lines):
        if time.monotonic() > deadline:
            pytest.fail(f"no log line with {needle!r}:\n" + "\n".join(server.lines[-40:]))
        time.sleep(0.1)


def test_an_agent_token_in_the_websocket_url_is_in_no_log_line(server: Server) -> None:
    ws_url = server.base_url.replace("http://", "ws://")
    # an unknown token: the handshake is refused, and logged
    with pytest.raises(InvalidStatus), connect(f"{ws_url}/ws/agent?token={MARKER}", open_timeout=30):
        pass
    history = httpx.get(f"{server.base_url}/api/chat/history", params={"session": f"{MARKER}-session"}, timeout=30)
    assert history.status_code == 200
    wait_for_line(server, '"WebSocket /ws/agent"')  # the handshake line, its path kept
    wait_for_line(server, "GET /api/chat/history HTTP/1.1")  # the access line, its path kept
    assert any("/ws/agent" in line and "GET" in line for line in server.lines), "the debug request line is there"
    assert [line for line in server.lines if MARKER in line] == []


async def test_a_failed_statement_logs_no_parameter(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """An IntegrityError (the probe's empty client_message_id) said the customer's text; it no longer does."""
    text = f"my e-mail is {uuid.uuid4().hex}@example.com"
    async with db.session() as session:
        customer = Customer()
        session.add(customer)
        await session.flush()
        conversation = Conversation(customer_id=customer.id, channel=Channel.WEB)
        session.add(conversation)
        await session.flush()
        for _ in range(2):
            session.add(
                Message(
                    conversation_id=conversation.id,
                    sender=Sender.CUSTOMER,
                    channel=Channel.WEB,
                    text=text,
                    client_message_id="",
                )
            )
        with pytest.raises(IntegrityError) as failed:
            await session.flush()
    logging.getLogger("webhook.test").error("the statement failed", exc_info=failed.value)
    logged = caplog.text
    assert "uq_message_client_id" in str(failed.value) or "UNIQUE" in str(failed.value), str(failed.value)
    assert "SQL parameters hidden" in str(failed.value)
    assert text not in str(failed.value) and text not in logged
    assert "the statement failed" in logged
