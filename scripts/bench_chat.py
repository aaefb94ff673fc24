"""End-to-end latency of POST /api/chat (web service -> Rasa -> action -> search) on a running product.

    ./run.sh &                      # or: .venv/bin/python -m webhook run
    .venv/bin/python scripts/bench_chat.py [--url http://127.0.0.1:8000] [--rounds 3]

Each question of tests/data/demo_questions.jsonl is asked once per round, sequentially,
each in a new session. Prints p50/p95 in milliseconds and the resident memory of the
web and Rasa processes (read from /proc, Linux only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pattern: str) -> int | None:
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return round(total / 1024) if pids else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    questions = [json.loads(line)["text"] for line in (ROOT / "tests" / "data" / "demo_questions.jsonl").open()]
    latencies = []
    with httpx.Client(base_url=args.url, timeout=60) as http:
        http.post("/api/chat", json={"session": uuid.uuid4().hex, "text": "hello"}).raise_for_status()  # warm-up
        for _ in range(args.rounds):
            for text in questions:
                started = time.perf_counter()
                http.post("/api/chat", json={"session": uuid.uuid4().hex, "text": text}).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "latency_ms": {
                    "p50": round(statistics.median(latencies)),
                    "p95": round(latencies[int(0.95 * (len(latencies) - 1))]),
                },
                "rss_mb": {"web": rss_mb("uvicorn webhook.app"), "rasa": rss_mb("rasa run --enable-api")},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
