"""Evaluate search on a labelled set, and calibrate the decision thresholds.

The format is ``shared/eval/FORMAT.md``: ``kb.jsonl`` (``id``, ``title``,
``examples``, optional ``body`` and ``lang``) and question files (``text``,
``expected`` or null, ``lang``, optional ``variety``).

Calibration rule (``calibrate``), applied to the validation questions:

1. **Decline** below ``clarify``: the lowest threshold that declines at least
   ``TARGET_OOS_RECALL`` (90 %) of the out-of-scope questions, raised to the next
   answerable question's score (declining more out-of-scope questions for free).
   A set with no out-of-scope questions cannot tell where to decline: the
   threshold is then the 2nd percentile of its questions' best scores (at most 2 %
   of answerable questions declined).
2. **Answer** at or above ``answer`` with a lead of at least ``margin`` over the
   runner-up: of the settings whose answers are right at least
   ``TARGET_PRECISION`` (85 %) of the time (counting an answer to an out-of-scope
   question as wrong), the one that answers the most answerable questions
   rightly. If no setting is that precise, the most precise one.
3. **Clarify** (offer the top three) in between.

So the bot declines what it should decline at a stated rate, answers as much as it
can while at most about one answer in seven is wrong, and offers choices when unsure.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_base.articles import Article, ArticleSet
from knowledge_base.search import Candidate, KnowledgeBase, Thresholds, Weights, decide, fuse
from knowledge_base.text import LANGUAGES, detect_language


def iter_kb_jsonl(path: Path) -> Iterator[tuple[int, Article]]:
    """Each article of ``kb.jsonl`` with its line number; a missing ``lang`` is detected from the text.

    A malformed line raises ValueError naming the file and the line. This is the one
    reading of the format: ``eval`` and ``python -m webhook import-articles --kb`` share it.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError("a JSON object is expected")
            key, title = str(row["id"]), str(row["title"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: not a kb.jsonl article ({exc})") from exc
        if not isinstance(row["id"], str | int) or isinstance(row["id"], bool) or not key.strip():
            raise ValueError(f"{where}: not a kb.jsonl article (id must be a non-empty string)")
        if not isinstance(row["title"], str) or not title.strip():
            raise ValueError(f"{where}: not a kb.jsonl article (title must be a non-empty string)")
        for name in ("examples", "tags"):
            if not isinstance(row.get(name) or [], list):
                raise ValueError(f"{where}: {name} must be a list of strings")
        if not isinstance(row.get("body") or "", str):
            raise ValueError(f"{where}: body must be a string")
        examples = tuple(str(e) for e in row.get("examples") or [] if str(e).strip())
        lang = row.get("lang") or detect_language(" ".join([title, *examples]), default="en")
        if lang not in LANGUAGES:
            raise ValueError(f"{where}: lang must be one of {LANGUAGES}")
        yield (
            number,
            Article(
                key=key,
                lang=lang,
                title=title,
                body=str(row.get("body") or ""),
                questions=examples,
                tags=tuple(str(t) for t in row.get("tags") or ()),
            ),
        )


def load_kb_jsonl(path: Path) -> ArticleSet:
    """Articles from ``kb.jsonl`` (see :func:`iter_kb_jsonl`)."""
    articles = ArticleSet()
    for _, article in iter_kb_jsonl(path):
        articles.add(article)
    return articles


def load_questions(path: Path) -> list[dict[str, Any]]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if "text" not in row or "expected" not in row:
                raise ValueError(f"{path}:{number}: a question needs text and expected")
            questions.append(row)
    return questions


@dataclass(frozen=True)
class Ranked:
    """What one search produced; the decision is applied later, for any thresholds."""

    question: dict[str, Any]
    keys: list[str]  # best first, up to 5
    best: float | None
    runner_up: float | None
    latency_ms: float

    @property
    def expected(self) -> str | None:
        return self.question.get("expected")


@dataclass(frozen=True)
class Collected:
    """One question's candidates and their signals, so that any fusion weights can be applied later."""

    question: dict[str, Any]
    candidates: list[Candidate]
    latency_ms: float  # encoding, candidates and fusion, as a search does them


def collect(kb: KnowledgeBase, questions: list[dict[str, Any]]) -> list[Collected]:
    kb.search("warm-up")
    out = []
    for q in questions:
        started = time.perf_counter()
        vector = kb.embedder.encode_queries([q["text"]])[0]
        candidates = kb.candidates(q["text"], vector, q.get("lang") or detect_language(q["text"]))
        fuse(candidates, kb.weights)
        out.append(Collected(q, candidates, (time.perf_counter() - started) * 1000))
    return out


def ranked_under(collected: list[Collected], weights: Weights) -> list[Ranked]:
    """What each search would have returned with ``weights``."""
    out = []
    for c in collected:
        ranked = fuse(c.candidates, weights)
        out.append(
            Ranked(
                c.question,
                [r.key for r in ranked[:5]],
                ranked[0].score if ranked else None,
                ranked[1].score if len(ranked) > 1 else None,
                c.latency_ms,
            )
        )
    return out


def rank_all(kb: KnowledgeBase, questions: list[dict[str, Any]]) -> list[Ranked]:
    return ranked_under(collect(kb, questions), kb.weights)


# The fusion weights tried by ``choose_weights`` (dense stays 1.0: only the ratios matter).
CENTROID_WEIGHTS = (0.25, 0.5, 1.0)
LEXICAL_WEIGHTS = (0.15, 0.3, 0.5, 0.8, 1.2, 2.0)


def choose_weights(collected: list[Collected], default: Weights | None = None) -> tuple[Weights, dict[str, Any]]:
    """The fusion weights that put the expected article first for the most labelled questions.

    Every pair of ``CENTROID_WEIGHTS`` × ``LEXICAL_WEIGHTS`` is tried (ties go to the
    higher MRR@5). The default is kept unless the best pair ranks at least
    ``max(2, 0.5 %)`` more questions right, so a small calibration set does not swap
    weights on noise. How much the lexical signal should count depends on the help
    centre: on Arabic dialect questions, which share stems rather than meanings with
    the phrasings, it deserves far more weight than in English (docs/knowledge-base.md).
    """
    default = default or Weights()
    answerable = [c for c in collected if c.question.get("expected")]

    def score(w: Weights) -> tuple[int, float]:
        right, reciprocal = 0, 0.0
        for r in ranked_under(answerable, w):
            right += bool(r.keys) and r.keys[0] == r.expected
            reciprocal += _reciprocal_rank(r)
        return right, reciprocal

    baseline = score(default)
    best, best_score = default, baseline
    for centroid in CENTROID_WEIGHTS:
        for lexical in LEXICAL_WEIGHTS:
            w = Weights(dense=default.dense, centroid=centroid, lexical=lexical)
            s = score(w)
            if s > best_score:
                best, best_score = w, s
    needed = max(2, int(np.ceil(0.005 * len(answerable))))
    n = max(1, len(answerable))
    info = {  # the best pair and its score are kept even when it falls short: how close it came
        "questions": len(answerable),
        "default_top1": round(baseline[0] / n, 4),
        "best_tried": asdict(best),
        "best_tried_top1": round(best_score[0] / n, 4),
        "needed": needed,
    }
    if best_score[0] - baseline[0] < needed:
        best, best_score = default, baseline
    info["top1"] = round(best_score[0] / n, 4)
    return best, info


def _reciprocal_rank(r: Ranked) -> float:
    """1/rank of the expected article among the top 5, else 0 (MRR@5's term)."""
    return next((1 / (i + 1) for i, k in enumerate(r.keys[:5]) if k == r.expected), 0.0)


def _arrays(results: list[Ranked]) -> dict[str, np.ndarray]:
    return {
        "best": np.array([r.best if r.best is not None else -1.0 for r in results]),
        "runner": np.array([r.runner_up if r.runner_up is not None else -1.0 for r in results]),
        "inside": np.array([r.expected is not None for r in results]),
        "right": np.array([r.expected is not None and bool(r.keys) and r.keys[0] == r.expected for r in results]),
        "top3": np.array([r.expected is not None and r.expected in r.keys[:3] for r in results]),
    }


TARGET_OOS_RECALL = 0.90
TARGET_PRECISION = 0.85
MARGINS = np.array([0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06])


def _decline_threshold(a: dict[str, np.ndarray], oos_recall: float) -> float:
    best, inside = a["best"], a["inside"]
    if not (~inside).any():
        return float(np.percentile(best[inside], 2))
    oos = np.sort(best[~inside])
    needed = max(1, int(np.ceil(oos_recall * len(oos) - 1e-9)))
    threshold = float(np.nextafter(oos[needed - 1], np.inf))  # declines the `needed` lowest
    above = best[inside & (best >= threshold)]
    return float(above.min()) if len(above) else threshold


def calibrate(
    results: list[Ranked], oos_recall: float = TARGET_OOS_RECALL, precision: float = TARGET_PRECISION
) -> Thresholds:
    """Pick thresholds on labelled results by the rule in this module's docstring."""
    a = _arrays(results)
    if not a["inside"].any():
        raise ValueError("calibration needs questions with an expected article")
    clarify = _decline_threshold(a, oos_recall)
    best, lead = a["best"], a["best"] - a["runner"]
    kept = best >= clarify
    grid = np.percentile(best[kept], np.arange(0, 100.5, 1.0)) if kept.any() else np.array([clarify])
    answers = np.unique(np.concatenate([[clarify], np.maximum(np.round(grid, 4), clarify)]))
    answered = (
        kept[None, None, :]
        & (best[None, None, :] >= answers[:, None, None])
        & (lead[None, None, :] >= MARGINS[None, :, None])
    )
    n_answered = answered.sum(axis=2)
    n_right = (answered & a["right"][None, None, :]).sum(axis=2)
    accuracy = n_right / a["inside"].sum()
    answer_precision = np.where(n_answered > 0, n_right / np.maximum(n_answered, 1), 0.0)
    precise = (answer_precision >= precision) & (n_answered > 0)
    if precise.any():
        # most right answers; among equals the more precise, then the stricter setting
        score = np.where(precise, accuracy + 1e-6 * answer_precision, -np.inf)
    else:
        score = np.where(n_answered > 0, answer_precision + 1e-6 * accuracy, -np.inf)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return Thresholds(answer=float(answers[i]), clarify=clarify, margin=float(MARGINS[j]))


def _rates(results: list[Ranked], t: Thresholds) -> dict[str, Any]:
    inside = [r for r in results if r.expected is not None]
    outside = [r for r in results if r.expected is None]
    out: dict[str, Any] = {"n": len(results)}
    if inside:
        out["top1"] = float(np.mean([bool(r.keys) and r.keys[0] == r.expected for r in inside]))
        out["mrr5"] = float(np.mean([_reciprocal_rank(r) for r in inside]))
        out["in_scope_accuracy"] = float(
            np.mean([decide(r.best, r.runner_up, t) == "answer" and r.keys[0] == r.expected for r in inside])
        )
    if outside:
        declined = [decide(r.best, r.runner_up, t) == "decline" for r in outside]
        out["oos_recall"] = float(np.mean(declined))
        declined_all = sum(decide(r.best, r.runner_up, t) == "decline" for r in results)
        out["oos_precision"] = float(sum(declined) / declined_all) if declined_all else 0.0
    return out


def metrics(results: list[Ranked], t: Thresholds) -> dict[str, Any]:
    """The output fields of ``python -m knowledge_base eval`` (rates in [0, 1])."""
    out = _rates(results, t)
    latencies = sorted(r.latency_ms for r in results)
    out["latency_ms"] = {
        "p50": round(statistics.median(latencies), 2),
        "p95": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
    }
    for field_name, label in (("lang", "by_lang"), ("variety", "by_variety")):
        groups: dict[str, list[Ranked]] = defaultdict(list)
        for r in results:
            if r.question.get(field_name):
                groups[str(r.question[field_name])].append(r)
        if groups:
            out[label] = {k: _rates(v, t) for k, v in sorted(groups.items())}
    out["thresholds"] = {"answer": t.answer, "clarify": t.clarify, "margin": t.margin}
    decisions = [decide(r.best, r.runner_up, t) for r in results]
    out["decisions"] = {d: decisions.count(d) for d in ("answer", "clarify", "decline")}
    return out
