"""Search quality, latency, index build speed and memory on the demo help centre.

    .venv/bin/python scripts/bench_demo.py [--questions tests/data/demo_questions.jsonl]

Questions are the held-out paraphrases in tests/data/demo_questions.jsonl (written for
evaluation, not taken from the articles). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge_base.articles import load_markdown_dir  # noqa: E402
from knowledge_base.calibration import load_thresholds, load_weights  # noqa: E402
from knowledge_base.embeddings import Embedder  # noqa: E402
from knowledge_base.search import KnowledgeBase  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-int8", action="store_true", help="float matrix products in the encoder")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests" / "data" / "demo_questions.jsonl")
    parser.add_argument("--model", default=str(ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"))
    parser.add_argument(
        "--calibration",
        type=Path,
        default=ROOT / "var" / "calibration.json",
        help="thresholds made by setup (calibrated on knowledge_base/demo/calibration.jsonl)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    embedder = Embedder(args.model, query_cache=0, int8=not args.no_int8)  # time the encoder on every question
    model_load_s = time.perf_counter() - started
    articles = load_markdown_dir(ROOT / "knowledge_base" / "demo")
    kb = KnowledgeBase(embedder, load_thresholds(args.calibration), load_weights(args.calibration))
    started = time.perf_counter()
    kb.load(articles)
    build_s = time.perf_counter() - started

    questions = [json.loads(line) for line in args.questions.open()]
    kb.search("warm-up question")
    latencies, top1, answered_right, answered_wrong, oos_declined, oos_answered = [], 0, 0, 0, 0, 0
    by_lang: dict[str, list[int]] = {}
    for q in questions:
        result = kb.search(q["text"])
        latencies.append(result.elapsed_ms)
        best = result.best.key if result.best else None
        if q["expected"]:
            hit = best == q["expected"]
            top1 += hit
            by_lang.setdefault(q["lang"], []).append(int(hit))
            if result.decision == "answer":
                answered_right += hit
                answered_wrong += not hit
        else:
            oos_declined += result.decision == "decline"
            oos_answered += result.decision == "answer"
    in_scope = sum(1 for q in questions if q["expected"])
    out_of_scope = len(questions) - in_scope
    print(
        json.dumps(
            {
                "articles": len(articles.by_key),
                "translations": len(articles),
                "indexed_units": len(kb.index),
                "model_load_s": round(model_load_s, 2),
                "index_build_s": round(build_s, 2),
                "index_build_translations_per_s": round(len(articles) / build_s, 1),
                "questions_in_scope": in_scope,
                "questions_out_of_scope": out_of_scope,
                "top1": round(top1 / in_scope, 3),
                "top1_by_lang": {k: round(sum(v) / len(v), 3) for k, v in sorted(by_lang.items())},
                "in_scope_answered_correctly": round(answered_right / in_scope, 3),
                "in_scope_answered_wrongly": answered_wrong,
                "oos_declined": round(oos_declined / out_of_scope, 3) if out_of_scope else None,
                "oos_answered": oos_answered,
                "latency_ms": {
                    "p50": round(statistics.median(latencies), 1),
                    "p95": round(percentile(latencies, 0.95), 1),
                },
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
