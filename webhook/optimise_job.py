"""The "optimise" job: fine-tune the embedding model on the help centre's own phrasings, then swap it in.

Fine-tuning (``knowledge_base/optimise.py``) is the largest single quality gain we
measured (docs/knowledge-base.md), but it takes minutes, so an editor starts it and
the bot keeps answering with the current model meanwhile:

1. snapshot the published articles;
2. fine-tune a fresh copy of the base model (``KB_MODEL``) on them, and save it
   under ``KB_OPTIMISED_DIR``;
3. build a complete index with it, aside;
4. swap model and index in one step (``KnowledgeBase.adopt``), applying the edits
   made during the job first, and save the index;
5. recalibrate the fusion weights and thresholds on ``KB_CALIBRATION_QUESTIONS``
   (scores shift with the model);
6. record the model in ``KB_ACTIVE_MODEL_FILE`` (used at the next start) and announce
   it on the bus, so that the other workers load it too.

Reverting goes back to the base model the same way, without step 2. One job runs at
a time per worker; the state is kept in memory and returned by the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import apply_calibration, calibrate_knowledge_base
from knowledge_base.embeddings import Embedder
from knowledge_base.evaluation import load_questions
from knowledge_base.optimise import default_epochs, fine_tune, training_groups
from knowledge_base.search import KnowledgeBase
from webhook.events import KB_TOPIC, EventBus
from webhook.settings import Settings

log = logging.getLogger(__name__)

KEEP_MODELS = 2  # the active optimised model and the one before it


class JobRunning(Exception):
    """An optimise or revert job is already running in this worker."""


@dataclass
class JobState:
    state: Literal["idle", "running", "done", "failed"] = "idle"
    kind: Literal["optimise", "revert"] | None = None
    phase: str = ""
    progress: float = 0.0  # 0..1 over the whole job
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    error: str | None = None
    model: str | None = None  # the model the job switched to
    calibration: dict[str, Any] | None = field(default=None)


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


def serving_embedder(model: str, settings: Settings) -> Embedder:
    """The encoder a worker searches with, set up from the settings (threads, 8-bit, question cache)."""
    return Embedder(
        model,
        threads=settings.kb_encoder_threads,
        query_cache=settings.kb_query_cache,
        int8=settings.kb_encoder_int8,
    )


class Optimiser:
    def __init__(self, kb: KnowledgeBase, settings: Settings, bus: EventBus | None, origin: str) -> None:
        self.kb = kb
        self.settings = settings
        self.bus = bus
        self.origin = origin
        self.status = JobState()
        self._guard = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- starting ---------------------------------------------------------------------
    def start(self, kind: Literal["optimise", "revert"], epochs: int | None = None) -> JobState:
        """Start a job in the background; raise :class:`JobRunning` if one is running."""
        with self._guard:
            if self.status.state == "running":
                raise JobRunning(f"a {self.status.kind} job has been running since {self.status.started_at}")
            if kind == "optimise" and len(training_groups(self.kb.articles)) < 2:
                raise ValueError("optimising needs at least two published articles with alternative questions")
            if kind == "revert" and self.kb.embedder.name == self.settings.kb_model:
                raise ValueError(f"the base model {self.settings.kb_model} is already in use")
            self.status = JobState("running", kind, "starting", 0.0, datetime.now(UTC).isoformat(timespec="seconds"))
        epochs = epochs or default_epochs(self.kb.articles)
        self._task = asyncio.get_running_loop().create_task(self._run(kind, epochs), name=f"kb-{kind}")
        return self.status

    async def wait(self) -> JobState:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.status

    async def _run(self, kind: Literal["optimise", "revert"], epochs: int) -> None:
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(self._work, kind, epochs)
            self.status.model = model
            self.status.state, self.status.phase, self.status.progress = "done", "done", 1.0
            if self.bus is not None:
                await self.bus.publish(KB_TOPIC, {"model": model, "origin": self.origin})
        except Exception as exc:
            log.exception("%s job failed", kind)
            self.status.state, self.status.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.status.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            self.status.seconds = round(time.perf_counter() - started, 1)

    # -- the work, in a thread -----------------------------------------------------------
    def _phase(self, phase: str, progress: float) -> None:
        self.status.phase, self.status.progress = phase, round(progress, 3)
        log.info("%s job: %s (%.0f%%)", self.status.kind, phase, progress * 100)

    def _work(self, kind: str, epochs: int) -> str:
        settings = self.settings
        with self.kb.lock:
            snapshot = ArticleSet()
            for article in self.kb.articles:
                snapshot.add(article)
        self._phase("loading the base model", 0.02)
        model = settings.kb_model
        if kind == "optimise":
            trainee = Embedder(settings.kb_model, onnx=False)  # trained in PyTorch; exported once saved
            target = settings.kb_optimised_dir / f"optimised-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
            fine_tune(
                trainee,
                snapshot,
                None,
                epochs=epochs,
                on_epoch=lambda e, _loss: self._phase(f"fine-tuning: epoch {e} of {epochs}", 0.05 + 0.7 * e / epochs),
            )
            self._phase("saving the model", 0.76)
            tmp = target.with_name(target.name + ".tmp")
            trainee.model.save(str(tmp))
            os.replace(tmp, target)
            model = str(target)  # the index stamp names the model folder that built it
        embedder = serving_embedder(model, settings)
        self._phase("indexing the published articles", 0.8)
        fresh = KnowledgeBase(embedder, self.kb.thresholds, self.kb.weights)
        fresh.load(snapshot)
        self._phase("switching to the new model", 0.9)
        self.kb.adopt(fresh)
        self.kb.save(settings.kb_index_dir)
        self._record(model)
        self._phase("recalibrating the fusion weights and thresholds", 0.93)
        self.status.calibration = self._recalibrate()
        self._prune(model)
        return model

    def _recalibrate(self) -> dict[str, Any] | None:
        path = self.settings.kb_calibration_questions
        questions = [
            q
            for q in (load_questions(path) if path.is_file() else [])
            if not q.get("expected") or q["expected"] in self.kb.articles.by_key
        ]
        if not any(q.get("expected") for q in questions):
            log.warning("no labelled questions in %s: the new model keeps the old weights and thresholds", path)
            return None
        record = calibrate_knowledge_base(
            self.kb, questions, self.settings.kb_calibration_file, source=f"{path} ({self.status.kind})"
        )
        return {"thresholds": record["thresholds"], "weights": record["weights"], "metrics": record["metrics"]}

    def _record(self, model: str) -> None:
        path = self.settings.kb_active_model_file
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "model": model,
            "base": self.settings.kb_model,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        path.with_suffix(".tmp").write_text(json.dumps(record, indent=2))
        os.replace(path.with_suffix(".tmp"), path)

    def _prune(self, model: str) -> None:
        """Keep the active optimised model and the one before it; remove older ones."""
        folder = self.settings.kb_optimised_dir
        if not folder.is_dir():
            return
        models = sorted(p for p in folder.glob("optimised-*") if p.is_dir() and not p.name.endswith(".tmp"))
        for old in models[:-KEEP_MODELS]:
            if str(old) != model:
                shutil.rmtree(old, ignore_errors=True)

    # -- following another worker -----------------------------------------------------------
    async def follow(self, model: str, live: ArticleSet) -> None:
        """Another worker switched models: load the same one and an index for it, then swap."""
        if model == self.kb.embedder.name:
            return

        def load() -> None:
            embedder = serving_embedder(model, self.settings)
            fresh = KnowledgeBase(embedder, self.kb.thresholds, self.kb.weights)
            fresh.load(live, self.settings.kb_index_dir)
            self.kb.adopt(fresh)
            apply_calibration(self.kb, self.settings.kb_calibration_file)

        await asyncio.to_thread(load)
        log.info("knowledge base: switched to %s, as another worker did", model)

    def describe(self) -> dict[str, Any]:
        return {"job": asdict(self.status), "model": self.kb.embedder.name, "base_model": self.settings.kb_model}
