"""The peer: Rasa's own DIET intent classifier on the same kb.jsonl, scored like our search.

Run with the Rasa environment:

    .venv-rasa/bin/python scripts/bench_rasa_diet.py --kb ../shared/eval/banking77/kb.jsonl \\
        --queries ../shared/eval/banking77/queries_val.jsonl [--calibrate VAL.jsonl] --json OUT.json

One intent per article; its title and examples are the training data; the pipeline is
the one in config.yml (without the fallback classifier). The top intent is the answer;
"decline" is a confidence below a threshold chosen on --calibrate by the same balanced
rule our calibration uses for declining (in-scope kept + out-of-scope declined); with
no out-of-scope questions, the 2nd percentile. Writes top1, mrr5, in_scope_accuracy,
oos_recall, oos_precision, n, latency_ms, by_lang, train_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def intent_name(article_id: str) -> str:
    return "a_" + re.sub(r"[^A-Za-z0-9_]", "_", article_id)


def write_project(kb: list[dict], folder: Path) -> dict[str, str]:
    import yaml

    names = {intent_name(a["id"]): a["id"] for a in kb}
    nlu = {
        "version": "3.1",
        "nlu": [
            {
                "intent": intent_name(a["id"]),
                "examples": "".join(f"- {' '.join(t.split())}\n" for t in dict.fromkeys([a["title"], *a["examples"]])),
            }
            for a in kb
        ],
    }
    (folder / "nlu.yml").write_text(yaml.safe_dump(nlu, allow_unicode=True, sort_keys=False))
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "FallbackClassifier"]
    for component in config["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["epochs"] = 100
    config["policies"] = []
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return names


async def predict(agent, names: dict[str, str], questions: list[dict]) -> list[dict]:
    out = []
    for q in questions:
        started = time.perf_counter()
        parsed = await agent.parse_message(q["text"])
        elapsed = (time.perf_counter() - started) * 1000
        ranking = [names.get(r["name"]) for r in parsed.get("intent_ranking", [])]
        out.append(
            {"q": q, "ranking": [r for r in ranking if r], "confidence": parsed["intent"]["confidence"], "ms": elapsed}
        )
    return out


def threshold(results: list[dict]) -> float:
    inside = [r["confidence"] for r in results if r["q"]["expected"] is not None]
    outside = [r["confidence"] for r in results if r["q"]["expected"] is None]
    if not outside:
        return sorted(inside)[max(0, int(0.02 * len(inside)) - 1)] if inside else 0.0
    best, best_value = 0.0, -1.0
    for t in sorted(set(inside + outside)):
        value = sum(c >= t for c in inside) / len(inside) + sum(c < t for c in outside) / len(outside)
        if value > best_value:
            best, best_value = t, value
    return best


def rates(results: list[dict], t: float) -> dict:
    inside = [r for r in results if r["q"]["expected"] is not None]
    outside = [r for r in results if r["q"]["expected"] is None]
    out: dict = {"n": len(results)}
    if inside:
        out["top1"] = sum(r["ranking"][:1] == [r["q"]["expected"]] for r in inside) / len(inside)
        out["mrr5"] = sum(
            next((1 / (i + 1) for i, k in enumerate(r["ranking"][:5]) if k == r["q"]["expected"]), 0) for r in inside
        ) / len(inside)
        out["in_scope_accuracy"] = sum(
            r["ranking"][:1] == [r["q"]["expected"]] and r["confidence"] >= t for r in inside
        ) / len(inside)
    if outside:
        declined = sum(r["confidence"] < t for r in outside)
        declined_all = sum(r["confidence"] < t for r in results)
        out["oos_recall"] = declined / len(outside)
        out["oos_precision"] = declined / declined_all if declined_all else 0.0
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--calibrate", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    kb = read_jsonl(args.kb)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = write_project(kb, folder)
        started = time.perf_counter()
        model = train_nlu(
            str(folder / "config.yml"), str(folder / "nlu.yml"), str(folder / "models"), fixed_model_name="diet"
        )
        train_s = time.perf_counter() - started
        agent = Agent.load(str(model))
        t = 0.0
        if args.calibrate:
            t = threshold(asyncio.run(predict(agent, names, read_jsonl(args.calibrate))))
        results = asyncio.run(predict(agent, names, read_jsonl(args.queries)))
    out = rates(results, t)
    latencies = sorted(r["ms"] for r in results)
    out["latency_ms"] = {
        "p50": round(statistics.median(latencies), 2),
        "p95": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
    }
    by_lang: dict[str, list[dict]] = {}
    for r in results:
        by_lang.setdefault(r["q"].get("lang", "?"), []).append(r)
    out["by_lang"] = {k: rates(v, t) for k, v in sorted(by_lang.items())}
    out["confidence_threshold"] = t
    out["train_s"] = round(train_s, 1)
    args.json.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in out if k not in ("by_lang",)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
