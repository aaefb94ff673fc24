"""The abuse limits at their defaults, measured on a running web service: how many of N requests pass.

    .venv/bin/python scripts/bench_rate_limits.py [--redis-url redis://127.0.0.1:6379/0] [--port 8765]

Starts the web service alone (uvicorn, no Rasa, an empty help centre, a scratch database) with
the default limits and TRUSTED_PROXIES=127.0.0.1, so that ``X-Forwarded-For`` stands for
different customers; each limit is measured from addresses of its own, within one window
(a minute, or less). Without Rasa a stored chat message is answered 503: it passed the limits.
Prints, per limit, the rate, how many requests were sent, how many passed, how many got 429,
and the first Retry-After. Bounded: about 4,000 requests on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webhook.settings import Settings  # noqa: E402

PASSWORD = "bench-password-1"


def start(scratch: Path, port: int, redis_url: str) -> subprocess.Popen[bytes]:
    (scratch / "no-articles").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'support.db'}",
        "KB_ARTICLES_DIR": str(scratch / "no-articles"),
        "KB_INDEX_DIR": str(scratch / "index"),
        "KB_CALIBRATION_FILE": str(scratch / "calibration.json"),
        "RASA_URL": "http://127.0.0.1:9",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_ENABLED": "true",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "webhook", "create-user", "--username", "bench", "--role", "agent", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return subprocess.Popen(
        [python, "-m", "uvicorn", "webhook.app:create_app", "--factory", "--port", str(port), "--no-access-log"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "server.log", "w"),  # the server's lifetime
    )


def wait_ready(http: httpx.Client, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        try:
            if http.get("/health").is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"the server did not start: see {log}")
        time.sleep(0.5)


def measure(rate: str, n: int, send: Callable[[int], httpx.Response]) -> dict[str, object]:
    """Send ``n`` requests (``send(i)``) as fast as they go; what passed, what got 429, the first wait."""
    started = time.monotonic()
    codes = [send(i) for i in range(n)]
    limited = [r for r in codes if r.status_code == 429]
    return {
        "rate": rate,
        "sent": n,
        "passed": n - len(limited),
        "limited": len(limited),
        "first_429_at": next((i + 1 for i, r in enumerate(codes) if r.status_code == 429), None),
        "retry_after_s": int(limited[0].headers["Retry-After"]) if limited else None,
        "seconds": round(time.monotonic() - started, 1),
    }


def run(http: httpx.Client) -> dict[str, object]:
    d = Settings.model_fields

    def rate(name: str) -> str:
        return str(d[name].default)

    def ip(block: int, i: int = 1) -> dict[str, str]:
        return {"X-Forwarded-For": f"10.{block}.{i // 250}.{i % 250 + 1}"}

    def chat(session: str, headers: dict[str, str]) -> httpx.Response:
        return http.post("/api/chat", json={"session": session, "text": "hello"}, headers=headers)

    sessions = [f"bench-{uuid.uuid4().hex}" for _ in range(7)]
    one_session = f"bench-{uuid.uuid4().hex}"
    results: dict[str, object] = {
        "per_ip": measure(
            rate("rate_limit_per_ip"),
            3100,
            lambda i: http.get(f"/api/chat/history?session={one_session}", headers=ip(1)),
        ),
        "chat_per_ip": measure(rate("rate_limit_chat_per_ip"), 130, lambda i: chat(sessions[i % 7], ip(2))),
        "chat_per_session": measure(rate("rate_limit_chat_per_session"), 25, lambda i: chat(one_session, ip(3, i))),
        "new_conversations_per_ip": measure(
            rate("rate_limit_new_conversations_per_ip"), 25, lambda i: chat(f"bench-{uuid.uuid4().hex}", ip(4))
        ),
        "sign_in_per_ip": measure(
            rate("rate_limit_sign_in_per_ip"),
            8,
            lambda i: http.post("/api/agent/login", json={"username": f"nobody{i}", "password": "x"}, headers=ip(5)),
        ),
        "sign_in_failures_per_user": measure(
            f"{rate('rate_limit_sign_in_per_user')}, then a {d['sign_in_lockout_s'].default} s lockout",
            12,
            lambda i: http.post("/api/agent/login", json={"username": "bench", "password": "wrong"}, headers=ip(6, i)),
        ),
    }
    right = http.post("/api/agent/login", json={"username": "bench", "password": PASSWORD}, headers=ip(8))
    results["right_password_during_the_lockout"] = {"status": right.status_code}
    return results


def staff(http: httpx.Client, env_db: str) -> dict[str, object]:
    """Agent API calls of one signed-in user (a second user: the first one is locked out by now)."""
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "webhook", "create-user", "--username", "bench2", "--role", "agent", "--password", PASSWORD],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": env_db},
        check=True,
        capture_output=True,
    )
    login = http.post(
        "/api/agent/login", json={"username": "bench2", "password": PASSWORD}, headers={"X-Forwarded-For": "10.9.0.1"}
    )
    login.raise_for_status()
    http.cookies.clear()
    auth = {"Authorization": f"Bearer {login.json()['token']}", "X-Forwarded-For": "10.9.0.2"}
    return measure(
        str(Settings.model_fields["rate_limit_staff_per_user"].default),
        620,
        lambda i: http.get("/api/agent/me", headers=auth),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--redis-url", default="", help="count in Redis, as several workers would (default: memory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="larkspur-limits-") as folder:
        scratch = Path(folder)
        server = start(scratch, args.port, args.redis_url)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as http:
                wait_ready(http, server, scratch / "server.log")
                results = run(http)
                results["staff_per_user"] = staff(http, f"sqlite:///{scratch / 'support.db'}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    results["storage"] = "redis" if args.redis_url else "memory"
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
