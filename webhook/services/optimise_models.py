"""The models an optimise job makes and the record of the one in use.

Fine-tuned models live in ``KB_OPTIMISED_DIR`` (``optimised-<UTC time>``);
``KB_ACTIVE_MODEL_FILE`` names the one every worker loads at start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import calibrate_knowledge_base
from knowledge_base.embeddings import Embedder
from knowledge_base.evaluation import load_questions
from knowledge_base.search import KnowledgeBase
from webhook.services.optimise_board import JobCalibration
from webhook.settings import Settings

log = logging.getLogger(__name__)

KEEP_MODELS = 2  # the active optimised model and the one before it


def active_model(settings: Settings) -> str:
    """The model to load: the optimised one recorded for this base model, else ``KB_MODEL``."""
    try:
        record = json.loads(settings.kb_active_model_file.read_text())
    except (OSError, ValueError):
        return settings.kb_model
    model = str(record.get("model") or "")
    if record.get("base") == settings.kb_model and model and Path(model).is_dir():
        return model
    return settings.kb_model


def record_active_model(settings: Settings, model: str) -> None:
    """Name ``model`` in ``KB_ACTIVE_MODEL_FILE``, for the next start."""
    path = settings.kb_active_model_file
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "model": model,
        "base": settings.kb_model,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.with_suffix(".tmp").write_text(json.dumps(record, indent=2))
    os.replace(path.with_suffix(".tmp"), path)


def serving_embedder(model: str, settings: Settings) -> Embedder:
    """The encoder a worker searches with, set up from the settings (threads, 8-bit, question cache)."""
    return Embedder(
        model,
        threads=settings.kb_encoder_threads,
        query_cache=settings.kb_query_cache,
        int8=settings.kb_encoder_int8,
    )


def new_model_folder(settings: Settings) -> Path:
    """Where the next fine-tuned model goes (the index stamp names the model folder)."""
    return settings.kb_optimised_dir / f"optimised-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"


def write_snapshot(articles: ArticleSet, folder: Path) -> Path:
    """The articles as JSON lines in a file in ``folder``, for the fine-tuning process to read."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=folder, prefix=".snapshot-", suffix=".jsonl", delete=False
    ) as file:
        for article in articles:
            row = {"id": article.key, "lang": article.lang, "title": article.title, "examples": article.questions}
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(file.name)


def sweep_leftovers(folder: Path) -> None:
    """Remove what a job whose worker died left: a half-saved model, its snapshot (call with the lock held)."""
    for leftover in folder.glob("optimised-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in folder.glob(".snapshot-*.jsonl"):
        leftover.unlink(missing_ok=True)


def remove_model(target: Path) -> None:
    """Remove a model folder and its half-saved copy."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(target.with_name(target.name + ".tmp"), ignore_errors=True)


def prune_models(settings: Settings, model: str) -> None:
    """Keep the active optimised model and the one before it; remove older ones."""
    folder = settings.kb_optimised_dir
    if not folder.is_dir():
        return
    models = sorted(p for p in folder.glob("optimised-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in models[:-KEEP_MODELS]:
        if str(old) != model:
            shutil.rmtree(old, ignore_errors=True)


def recalibrate(kb: KnowledgeBase, settings: Settings, source: str) -> JobCalibration | None:
    """Recalibrate on ``KB_CALIBRATION_QUESTIONS`` (scores shift with the model); None without labelled questions."""
    path = settings.kb_calibration_questions
    questions = [
        q
        for q in (load_questions(path) if path.is_file() else [])
        if not q.get("expected") or q["expected"] in kb.articles.by_key
    ]
    if not any(q.get("expected") for q in questions):
        log.warning("no labelled questions in %s: the new model keeps the old weights and thresholds", path)
        return None
    record = calibrate_knowledge_base(kb, questions, settings.kb_calibration_file, source=f"{path} ({source})")
    return JobCalibration(thresholds=record["thresholds"], weights=record["weights"], metrics=record["metrics"])
