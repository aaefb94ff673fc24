"""Articles with different numbers of phrasings, and phrasings learnt from conversations.

    .venv/bin/python scripts/bench_learning.py --kb ../shared/eval/D/kb.jsonl \
        --queries ../shared/eval/D/queries_val.jsonl [--model DIR] [--optimise] [--seeds 3] --json OUT.json

Two scenarios, each scored with the best-of-n correction of the dense signal
(``knowledge_base/best_of_n.py``) and without it:

- **uneven**: every article keeps a random number of its alternative questions
  (at least one, at most all; one draw per seed), as in a help centre whose editors
  wrote three phrasings for one article and ten for another. All questions are scored.
- **learning**: the questions are split in half (seeded). The first half are
  conversations: each is searched with thresholds calibrated on that half, and a
  customer confirms an answer that is right, or picks the right article when it is
  among those offered; nothing else is learnt. Those questions (``webhook/domain/learning.py``'s
  rules: usable, one per article and wording) are added to their articles, as an
  editor accepting every suggestion would. The second half is scored before and after.

With ``--optimise`` the model is fine-tuned (the eval command's default) on each help
centre it searches: the whole one, each uneven draw, and for "learning" the articles
with their learnt questions, from the base model, as the optimise job would after the
editor accepts them. Out-of-scope questions (no expected article) are left out: nobody
confirms an answer to them. Prints and writes one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge_base.__main__ import DEFAULT_MODEL_DIR  # noqa: E402
from knowledge_base.articles import ArticleSet  # noqa: E402
from knowledge_base.embeddings import Embedder  # noqa: E402
from knowledge_base.evaluation import (  # noqa: E402
    calibrate,
    choose_weights,
    collect,
    load_kb_jsonl,
    load_questions,
    ranked_under,
)
from knowledge_base.optimise import default_epochs, fine_tune  # noqa: E402
from knowledge_base.search import KnowledgeBase, Thresholds, Weights, decide  # noqa: E402
from webhook.domain.learning import question_key, usable  # noqa: E402


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def embedder_for(model: str, articles: ArticleSet, optimise: bool, scratch: Path) -> Embedder:
    embedder = Embedder(model, query_cache=0)
    if optimise:
        started = time.perf_counter()
        fine_tune(embedder, articles, None, epochs=default_epochs(articles))
        embedder.accelerate(scratch)
        say(f"  fine-tuned in {time.perf_counter() - started:.0f} s")
    return embedder


def scores(kb: KnowledgeBase, questions: list[dict[str, Any]], weights: Weights) -> dict[str, float]:
    ranked = ranked_under(collect(kb, questions), weights)
    n = max(1, len(ranked))
    top1 = sum(r.keys[:1] == [r.expected] for r in ranked) / n
    mrr = sum(next((1 / (i + 1) for i, k in enumerate(r.keys[:5]) if k == r.expected), 0.0) for r in ranked) / n
    return {"top1": round(top1, 4), "mrr5": round(mrr, 4), "n": len(ranked)}


def both(embedder: Embedder, articles: ArticleSet, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 and MRR@5 with the correction and without it (default weights: nothing chosen on these questions)."""
    out = {}
    for label, correct in (("corrected", True), ("plain", False)):
        kb = KnowledgeBase(embedder, correct_best_of_n=correct)
        kb.load(articles)
        out[label] = scores(kb, questions, Weights())
        if correct:
            out["best_of_n"] = {k: round(v, 4) for k, v in dataclasses.asdict(kb.best_of_n).items()}
    return out


def uneven(articles: ArticleSet, seed: int) -> ArticleSet:
    rng = random.Random(seed)
    out = ArticleSet()
    for a in articles:
        keep = rng.randint(1, len(a.questions)) if a.questions else 0
        out.add(dataclasses.replace(a, questions=tuple(rng.sample(a.questions, keep))))
    return out


def learnt(kb: KnowledgeBase, conversations: list[dict[str, Any]]) -> tuple[ArticleSet, dict[str, int]]:
    """The articles with the questions their customers vouched for added (see the module docstring)."""
    collected = collect(kb, conversations)
    weights, _ = choose_weights(collected)
    thresholds: Thresholds = calibrate(ranked_under(collected, weights))
    counts = {"confirmed": 0, "chosen": 0, "added": 0}
    extra: dict[tuple[str, str], list[str]] = {}
    for r in ranked_under(collected, weights):
        decision = decide(r.best, r.runner_up, thresholds)
        if decision == "answer" and r.keys[:1] == [r.expected]:
            counts["confirmed"] += 1
        elif decision == "clarify" and r.expected in r.keys[:3]:
            counts["chosen"] += 1
        else:
            continue
        text = r.question["text"]
        article = kb.article(str(r.expected), r.question.get("lang"))
        if article is None or not usable(text):
            continue
        have = {
            question_key(t) for t in (article.title, *article.questions, *extra.get((article.key, article.lang), []))
        }
        if question_key(text) not in have:
            extra.setdefault((article.key, article.lang), []).append(text.strip())
    out = ArticleSet()
    for a in kb.articles:
        more = extra.get((a.key, a.lang), [])
        counts["added"] += len(more)
        out.add(dataclasses.replace(a, questions=a.questions + tuple(more)))
    return out, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--optimise", action="store_true", help="fine-tune first (and again after learning)")
    parser.add_argument("--seeds", type=int, default=3, help="uneven help centres and question splits to draw")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    articles = load_kb_jsonl(args.kb)
    questions = [q for q in load_questions(args.queries) if q.get("expected")]
    result: dict[str, Any] = {"kb": str(args.kb), "questions": len(questions), "optimise": args.optimise}
    embedder = embedder_for(args.model, articles, args.optimise, scratch / "base")

    result["even"] = both(embedder, articles, questions)
    say(f"even: {result['even']}")
    result["uneven"] = []
    for seed in range(args.seeds):
        drawn = uneven(articles, seed)
        model = (
            embedder_for(args.model, drawn, args.optimise, scratch / f"uneven-{seed}") if args.optimise else embedder
        )
        drawn_row = {
            "seed": seed,
            "phrasings": sum(len(a.questions) for a in drawn),
            **both(model, drawn, questions),
        }
        result["uneven"].append(drawn_row)
        say(f"uneven, seed {seed}: {drawn_row}")

    result["learning"] = []
    for seed in range(args.seeds):
        rng = random.Random(seed)
        order = questions[:]
        rng.shuffle(order)
        conversations, later = order[: len(order) // 2], order[len(order) // 2 :]
        kb = KnowledgeBase(embedder)
        kb.load(articles)
        grown, counts = learnt(kb, conversations)
        row: dict[str, Any] = {"seed": seed, **counts, "before": both(embedder, articles, later)}
        again = (
            embedder_for(args.model, grown, args.optimise, scratch / f"learnt-{seed}") if args.optimise else embedder
        )
        row["after"] = both(again, grown, later)
        result["learning"].append(row)
        say(f"learning, seed {seed}: {row}")

    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
