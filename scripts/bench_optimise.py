"""What an optimise job costs the web worker that runs it: its memory, and its searches meanwhile.

    .venv/bin/python scripts/bench_optimise.py [--code-root DIR] [--kb ../shared/eval/banking77/kb.jsonl]

Starts the web service alone (uvicorn, no Rasa; ``--code-root`` runs another checkout's
code, e.g. a worktree of an older commit, with this checkout's environment and model)
on a scratch database holding ``--kb``'s articles, and then:

1. searches ``--questions`` once (warm-up) and once more for the baseline latency;
2. starts ``POST /api/kb/optimise`` and, until it ends, searches the same questions at
   ``--rate`` a second (latency per request, end to end over HTTP) while it samples the resident memory
   of the worker and of the worker's child processes (``/proc``, Linux only) every 0.2 s;
3. reads the worker's memory after the job.

Prints one JSON object. Nothing of the product's own database or models is touched.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-editor-key-0123456789"


def _kib(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field + ":")), 0)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-root", type=Path, default=ROOT, help="whose webhook/ and knowledge_base/ to run")
    parser.add_argument("--kb", type=Path, default=ROOT.parent / "shared" / "eval" / "banking77" / "kb.jsonl")
    parser.add_argument(
        "--questions", type=Path, default=ROOT.parent / "shared" / "eval" / "banking77" / "queries_val.jsonl"
    )
    parser.add_argument("--limit", type=int, default=200, help="questions searched per pass")
    parser.add_argument("--epochs", type=int, help="default: the job's own choice")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--rate", type=float, default=4.0, help="searches per second during the job")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-optimise-"))
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = questions[: args.limit]
    calibration = scratch / "calibration-questions.jsonl"
    calibration.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    (scratch / "no-demo").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'support.db'}",
        "EDITOR_API_KEY": KEY,
        "KB_ARTICLES_DIR": str(scratch / "no-demo"),
        "KB_MODEL": str(ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"),
        "KB_INDEX_DIR": str(scratch / "index"),
        "KB_OPTIMISED_DIR": str(scratch / "models"),
        "KB_ACTIVE_MODEL_FILE": str(scratch / "kb-model.json"),
        "KB_CALIBRATION_FILE": str(scratch / "calibration.json"),
        "KB_CALIBRATION_QUESTIONS": str(calibration),
        "KB_QUERY_CACHE": "0",  # every search encodes
        "RASA_URL": "http://127.0.0.1:9",  # not needed for search
        "PYTHONPATH": str(args.code_root),
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "webhook", "import-articles", "--kb", str(args.kb)],
        cwd=args.code_root,
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [python, "-m", "uvicorn", "webhook.app:create_app", "--factory", "--port", str(args.port), "--no-access-log"],
        cwd=args.code_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "server.log", "w"),  # noqa: SIM115 - the server's lifetime
    )
    result: dict[str, object] = {"code_root": str(args.code_root), "kb": str(args.kb), "questions": len(questions)}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=120) as http:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if http.get("/health").is_success:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start: see {scratch / 'server.log'}")
                time.sleep(0.5)

            def search_once(text: str) -> float:
                started = time.perf_counter()
                http.get("/api/kb/search", params={"q": text}).raise_for_status()
                return (time.perf_counter() - started) * 1000

            for q in questions:
                search_once(q["text"])
            result["before"] = {
                "search_ms": _percentiles([search_once(q["text"]) for q in questions]),
                "worker_rss_mb": round(_kib(server.pid, "VmRSS") / 1024),
            }

            samples: dict[str, int] = {"worker": 0, "children": 0}
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples["worker"] = max(samples["worker"], _kib(server.pid, "VmRSS"))
                    children = sum(_kib(c, "VmRSS") for c in _children(server.pid))
                    samples["children"] = max(samples["children"], children)
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            headers = {"X-API-Key": KEY}
            body = {"epochs": args.epochs} if args.epochs else {}
            started = time.perf_counter()
            http.post("/api/kb/optimise", json=body, headers=headers).raise_for_status()
            during: list[float] = []
            interval = 1.0 / args.rate
            next_at = time.perf_counter()
            for n in itertools.count():
                during.append(search_once(questions[n % len(questions)]["text"]))
                if n % 20 == 19:
                    job = http.get("/api/kb/optimise", headers=headers).json()["job"]
                    if job["state"] != "running":
                        break
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
            seconds = time.perf_counter() - started
            stop.set()
            sampler.join()
            result["job"] = {"state": job["state"], "error": job["error"], "seconds": round(seconds, 1)}
            result["during"] = {
                "search_ms": _percentiles(during),
                "worker_peak_rss_mb": round(samples["worker"] / 1024),
                "children_peak_rss_mb": round(samples["children"] / 1024),
            }
            result["after"] = {
                "search_ms": _percentiles([search_once(q["text"]) for q in questions]),
                "worker_rss_mb": round(_kib(server.pid, "VmRSS") / 1024),
                "worker_lifetime_peak_rss_mb": round(_kib(server.pid, "VmHWM") / 1024),
            }
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps(result, indent=2))
    job_result = result.get("job")
    return 0 if isinstance(job_result, dict) and job_result.get("state") == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
