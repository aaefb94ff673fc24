"""The 1 MB action probe of issue 26: the web service's memory before and after 14 calls to /webhook/actions.

    .venv/bin/python scripts/bench_action_probe.py [--repeats 14] [--megabytes 1] [--root DIR]

Starts the web service alone (uvicorn ``--factory``, as ``python -m webhook run`` does, no Rasa)
on a scratch database and a copy of models/index, with a fresh ACTION_ENDPOINT_TOKEN. After one
ordinary action call (the encoder warm), it sends ``--repeats`` calls whose customer message is
``--megabytes`` of text without the token, then as many with it (a different text each time, so no
cache can answer), and reads the process's resident memory from /proc after each phase. ``--root``
runs another checkout's code with this environment (the figure before the fix:
``git archive <commit> | tar -x -C DIR`` and a link DIR/models -> models). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOKEN_HEADER = "X-Action-Token"


def memory_mib(pid: int) -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of ``pid``, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


def action_call(text: str, domain: dict[str, Any]) -> bytes:
    """What Rasa sends to run action_answer_question on a customer's message ``text``."""
    tracker = {
        "sender_id": "probe",
        "slots": {name: slot.get("initial_value") for name, slot in domain.get("slots", {}).items()},
        "latest_message": {"text": text, "intent": {"name": "ask_question", "confidence": 1.0}, "entities": []},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    call = {"next_action": "action_answer_question", "sender_id": "probe", "tracker": tracker, "domain": domain}
    return json.dumps(call).encode()


def start(code: Path, work: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    index = work / "index"
    if (ROOT / "models" / "index").is_dir():
        shutil.copytree(ROOT / "models" / "index", index)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'support.db'}",
        "KB_INDEX_DIR": str(index),
        "RASA_URL": "http://127.0.0.1:9",
        "ACTION_ENDPOINT_TOKEN": token,
        "RATE_LIMIT_ENABLED": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "webhook.app:create_app", "--factory", "--port", str(port)]
    log = (work / "web.log").open("wb")
    process = subprocess.Popen([*command, "--no-access-log"], cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the web service exited {process.returncode}; see {work / 'web.log'}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the web service did not start in 10 minutes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(http: httpx.Client, repeats: int, size: int, domain: dict[str, Any], headers: dict[str, str]) -> list[int]:
    """``repeats`` calls with a message of ``size`` characters, each text different; their statuses."""
    statuses = []
    for number in range(repeats):
        words = f"probe {number} where is my parcel {secrets.token_hex(4)} "
        text = (words * (size // len(words) + 1))[:size]
        body = action_call(text, domain)
        statuses.append(http.post("/webhook/actions", content=body, headers=headers).status_code)
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", type=int, default=14)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs (default: this one)")
    args = parser.parse_args()
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())
    token = secrets.token_urlsafe(32)
    size = int(args.megabytes * 1024 * 1024)
    json_headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="larkspur-probe-") as folder:
        process, base = start(args.root.resolve(), Path(folder), token)
        try:
            with httpx.Client(base_url=base, timeout=600) as http:
                authorised = {**json_headers, TOKEN_HEADER: token}
                question = action_call("how do I return an item?", domain)
                warm = http.post("/webhook/actions", content=question, headers=authorised)
                time.sleep(1)
                before = memory_mib(process.pid)
                started = time.perf_counter()
                unauthenticated = probe(http, args.repeats, size, domain, json_headers)
                after_unauthenticated = memory_mib(process.pid)
                authenticated = probe(http, args.repeats, size, domain, authorised)
                after_authenticated = memory_mib(process.pid)
                elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(
        json.dumps(
            {
                "code": str(args.root.resolve()),
                "repeats": args.repeats,
                "message_bytes": size,
                "warm_up_status": warm.status_code,
                "statuses": {
                    "unauthenticated": sorted(set(unauthenticated)),
                    "authenticated": sorted(set(authenticated)),
                },
                "memory_mib": {
                    "before": before,
                    "after_unauthenticated": after_unauthenticated,
                    "after_authenticated": after_authenticated,
                },
                "rss_growth_mib": round(after_authenticated["VmRSS"] - before["VmRSS"], 1),
                "probe_seconds": round(elapsed, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
