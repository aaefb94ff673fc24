"""A task cancelled while it holds a SQLite connection must not hang the event loop's shutdown.

A WebSocket closed mid-turn, or a server stopping, cancels tasks that are in the middle of a
query. With aiosqlite 0.22, SQLAlchemy's shielded graceful close of such a connection awaits a
worker thread that has already stopped, so ``asyncio.run`` never returns (sqlalchemy#13039,
aiosqlite#369): the test suite hung at a TestClient's exit. The lock pins aiosqlite 0.21; this
test fails (times out) on a version that brings the hang back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import asyncio, sys
from sqlalchemy import text
from webhook.store.database import Database

QUERY = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) SELECT sum(x) FROM c"
)

async def main() -> None:
    db = Database("sqlite:///" + sys.argv[1])

    async def busy() -> None:
        async with db.session() as session:
            while True:
                await session.execute(QUERY)

    tasks = [asyncio.create_task(busy()) for _ in range(4)]
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()

asyncio.run(main())
print("shut down")
"""


def test_cancelling_tasks_mid_query_lets_the_loop_shut_down(tmp_path: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM, str(tmp_path / "cancel.db")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the event loop never shut down: a cancelled SQLite session hangs it") from None
    assert done.returncode == 0 and "shut down" in done.stdout, done.stderr[-2000:]
