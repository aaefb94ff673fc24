"""The product's fusion weights and decision thresholds: calibrated from labelled questions, kept in a file.

``calibrate_knowledge_base`` ranks the questions with the live knowledge base, picks
the fusion weights (``choose_weights``) and then the thresholds by the rule in
``knowledge_base/evaluation.py``; the result is written to the
calibration file (``KB_CALIBRATION_FILE``), which the app reads at start and an
editor can rewrite at any time (``POST /api/kb/calibrate``, ``python -m webhook calibrate``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge_base.evaluation import calibrate, choose_weights, collect, metrics, ranked_under
from knowledge_base.search import KnowledgeBase, Thresholds, Weights


def load_thresholds(path: Path) -> Thresholds | None:
    try:
        data = json.loads(path.read_text())
        t = data["thresholds"]
        return Thresholds(answer=float(t["answer"]), clarify=float(t["clarify"]), margin=float(t["margin"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_weights(path: Path) -> Weights | None:
    """The calibrated fusion weights; None when the file has none (an older file: the defaults apply)."""
    try:
        w = json.loads(path.read_text())["weights"]
        return Weights(dense=float(w["dense"]), centroid=float(w["centroid"]), lexical=float(w["lexical"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def apply_calibration(kb: KnowledgeBase, path: Path) -> bool:
    """Put the file's thresholds and weights in force in ``kb``; False (nothing changed) when it has none."""
    thresholds = load_thresholds(path)
    if thresholds is None:
        return False
    weights = load_weights(path) or Weights()
    with kb.lock:
        kb.thresholds, kb.weights = thresholds, weights
    return True


def calibrate_knowledge_base(
    kb: KnowledgeBase, questions: list[dict[str, Any]], path: Path | None, source: str
) -> dict[str, Any]:
    """Pick fusion weights and thresholds for ``kb`` on ``questions``, apply them, and save them to ``path``."""
    if not any(q.get("expected") for q in questions):
        raise ValueError("calibration needs at least one question with an expected article")
    unknown = sorted({q["expected"] for q in questions if q.get("expected")} - set(kb.articles.by_key))
    if unknown:
        raise ValueError(f"expected articles that are not published: {', '.join(unknown[:10])}")
    with kb.lock:
        collected = collect(kb, questions)
    weights, choice = choose_weights(collected)
    results = ranked_under(collected, weights)
    thresholds = calibrate(results)
    with kb.lock:
        kb.weights, kb.thresholds = weights, thresholds
    record = {
        "thresholds": {"answer": thresholds.answer, "clarify": thresholds.clarify, "margin": thresholds.margin},
        "weights": asdict(weights),
        "weights_choice": choice,
        "metrics": metrics(results, thresholds),
        "questions": len(questions),
        "source": source,
        "model": kb.embedder.name,
        "calibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(json.dumps(record, indent=2, ensure_ascii=False))
        os.replace(path.with_suffix(".tmp"), path)
    return record
