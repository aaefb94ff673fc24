"""Search latency, index build throughput, incremental update time and memory at 100 and 10,000 articles.

    .venv/bin/python scripts/bench_scale.py [--sizes 100 10000] [--queries 300]

The large help centre is generated: each synthetic article takes a seed article from
the demo help centre or the shared evaluation sets (its title, questions and body, in
English, Persian or Arabic) and makes it about one of many products, with a product
name and a stock code in the title, one question and the body, so that no two articles
are the same text. Queries are the seeds' questions with a product name added. Search
latency is the whole ``KnowledgeBase.search`` call: the query encoding (the model) plus
the dense, centroid and lexical look-ups and the fusion; the encoding is also timed
alone. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge_base.articles import Article, ArticleSet, load_markdown_dir  # noqa: E402
from knowledge_base.embeddings import Embedder  # noqa: E402
from knowledge_base.evaluation import load_kb_jsonl  # noqa: E402
from knowledge_base.search import KnowledgeBase  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
PRODUCTS = [
    "Aurora",
    "Basalt",
    "Cinder",
    "Delta",
    "Ember",
    "Fjord",
    "Garnet",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Marlin",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Raven",
    "Sierra",
    "Tundra",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seeds() -> list[Article]:
    found = list(load_markdown_dir(ROOT / "knowledge_base" / "demo"))
    for name in ("banking77", "arbanking77", "clinc150"):
        path = EVAL / name / "kb.jsonl"
        if path.exists():
            found.extend(load_kb_jsonl(path))
    return found


def synthetic(n: int, pool: list[Article], rng: random.Random) -> ArticleSet:
    articles = ArticleSet()
    for i in range(n):
        seed = pool[i % len(pool)]
        product = f"{rng.choice(PRODUCTS)} {rng.randint(100, 999)}"
        code = f"LK-{rng.randint(10000, 99999)}"
        questions = list(seed.questions[:4]) or [seed.title]
        questions[0] = f"{questions[0]} ({product})"
        body = seed.body or " ".join(seed.questions[:6])
        articles.add(
            Article(
                key=f"a{i:05d}",
                lang=seed.lang,
                title=f"{seed.title}: {product} [{code}]",
                body=f"{body}\n\nApplies to {product}, stock code {code}.",
                questions=tuple(questions),
            )
        )
    return articles


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-int8", action="store_true", help="float matrix products in the encoder")
    parser.add_argument("--model", default=str(ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"))
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="keep each size's index here; a later run with the same articles loads it instead of building",
    )
    args = parser.parse_args()
    rng = random.Random(7)  # the queries; each size's articles have their own seed, so a kept index fits any run
    pool = seeds()
    embedder = Embedder(args.model, query_cache=0, int8=not args.no_int8)  # time the encoder on every question
    queries = []
    for _ in range(args.queries):
        seed = rng.choice(pool)
        question = rng.choice(seed.questions) if seed.questions else seed.title
        queries.append((f"{question} {rng.choice(PRODUCTS)}", seed.lang))
    encode_ms = []
    for text, _ in queries:
        started = time.perf_counter()
        embedder.encode_queries([text])
        encode_ms.append((time.perf_counter() - started) * 1000)
    report: dict[str, object] = {
        "encoder": embedder.backend,
        "seed_articles": len(pool),
        "query_encoding_ms": {
            "p50": round(statistics.median(encode_ms), 1),
            "p95": round(percentile(encode_ms, 0.95), 1),
        },
    }
    for size in args.sizes:
        articles = synthetic(size, pool, random.Random(size))
        kb = KnowledgeBase(embedder)
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        rebuilt = kb.load(articles, args.index_dir / str(size) if args.index_dir else None)
        build_s = time.perf_counter() - started
        kb.search("warm up", "en")
        latencies = [kb.search(text, lang).elapsed_ms for text, lang in queries]
        # publish → searchable: one edited translation, upserted into the live index
        edited = next(iter(articles))
        changed = Article(
            edited.key,
            edited.lang,
            edited.title + " (updated)",
            edited.body + " New policy.",
            edited.questions,
            edited.tags,
            edited.version + 1,
        )
        started = time.perf_counter()
        kb.upsert(changed)
        upsert_ms = (time.perf_counter() - started) * 1000
        found = kb.search(changed.title, changed.lang, limit=10)  # the first search after it pays any lazy rebuild
        searchable_ms = (time.perf_counter() - started) * 1000
        assert any(h.key == changed.key for h in found.hits), "the edited article is not found"
        report[str(size)] = {
            "articles": len(articles),
            "build_s" if rebuilt else "load_s": round(build_s, 1),
            "build_articles_per_s" if rebuilt else "load_articles_per_s": round(len(articles) / build_s, 1),
            "search_ms": {"p50": round(statistics.median(latencies), 1), "p95": round(percentile(latencies, 0.95), 1)},
            "upsert_one_ms": round(upsert_ms, 1),
            "publish_to_searchable_ms": round(searchable_ms, 1),
            "peak_rss_mb": round(rss_mb()),
            "peak_rss_growth_mb": round(rss_mb() - before),
        }
        print(json.dumps({str(size): report[str(size)]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
