"""Channel latencies on a running product: the widget's WebSocket and the Telegram webhook.

    TELEGRAM_BOT_TOKEN=... TELEGRAM_WEBHOOK_URL=... ./run.sh &     # or without Telegram
    .venv/bin/python scripts/bench_channels.py [--url http://127.0.0.1:8000] [--rounds 2]
        [--telegram-secret SECRET]

WebSocket: for each question of tests/data/demo_questions.jsonl, in a new session,
the time from sending the frame to its ``ack`` (stored) and to the bot's answer.
Telegram (only with --telegram-secret): the time for POST /telegram/webhook to answer
200 (the update is stored, processing happens after), for fresh and duplicate updates.
Prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path

import httpx
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms (n={len(ordered)})"


def bench_websocket(url: str, questions: list[str], rounds: int) -> None:
    ws_url = url.replace("http", "ws", 1) + "/ws/chat"
    acks, answers = [], []
    for _ in range(rounds):
        for question in questions:
            with connect(ws_url) as ws:
                ws.send(json.dumps({"type": "hello", "session": uuid.uuid4().hex, "lang": None}))
                json.loads(ws.recv(timeout=30))  # ready
                started = time.perf_counter()
                ws.send(json.dumps({"type": "message", "client_message_id": "b-1", "text": question}))
                while True:
                    frame = json.loads(ws.recv(timeout=60))
                    if frame["type"] == "ack":
                        acks.append((time.perf_counter() - started) * 1000)
                    if frame["type"] == "message" and frame["message"]["sender"] in ("bot", "system"):
                        answers.append((time.perf_counter() - started) * 1000)
                        break
    print(f"websocket ack (stored):   {percentiles(acks)}")
    print(f"websocket first answer:   {percentiles(answers)}")


def bench_telegram(url: str, secret: str, count: int) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    fresh: list[float] = []
    duplicate: list[float] = []
    base = int(time.time() * 1000)
    with httpx.Client(timeout=30) as client:
        for i in range(count):
            update = {
                "update_id": base + i,
                "message": {
                    "message_id": i + 1,
                    "date": int(time.time()),
                    "chat": {"id": 9_000_000 + i, "type": "private", "first_name": "Bench"},
                    "from": {"id": 9_000_000 + i, "is_bot": False, "first_name": "Bench"},
                    "text": "where is my order?",
                },
            }
            for bucket in (fresh, duplicate):
                started = time.perf_counter()
                client.post(f"{url}/telegram/webhook", json=update, headers=headers).raise_for_status()
                bucket.append((time.perf_counter() - started) * 1000)
            time.sleep(0.2)  # let the bot's turn run, as real traffic would
    print(f"telegram webhook 200, new update:        {percentiles(fresh)}")
    print(f"telegram webhook 200, duplicate update:  {percentiles(duplicate)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--telegram-secret", default="")
    args = parser.parse_args()
    questions = [
        json.loads(line)["text"]
        for line in (ROOT / "tests" / "data" / "demo_questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    bench_websocket(args.url.rstrip("/"), questions, args.rounds)
    if args.telegram_secret:
        bench_telegram(args.url.rstrip("/"), args.telegram_secret, 40)


if __name__ == "__main__":
    main()
