"""The steps of one optimise or revert job, run in a thread of the worker that started it.

1. snapshot the published articles;
2. (optimise only) fine-tune a fresh copy of ``KB_MODEL`` on them in a child process
   (:mod:`webhook.runtime.fine_tune_child`), which saves it under ``KB_OPTIMISED_DIR``
   and exports its encoder;
3. build a complete index with the new model, aside;
4. swap model and index in one step (``KnowledgeBase.adopt``, which applies the edits
   made during the job first), and save the index;
5. record the model in ``KB_ACTIVE_MODEL_FILE``, recalibrate, prune older models.

A cancel is taken until step 4 starts; from there on the job finishes, as the swap is one step.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowledge_base.articles import ArticleSet
from knowledge_base.optimise import default_epochs
from knowledge_base.search import KnowledgeBase
from webhook.domain.errors import JobCancelled
from webhook.runtime.fine_tune_child import FineTuneChild, FineTuneRequest
from webhook.runtime.memory import return_memory
from webhook.services.optimise_board import JobKind, JobState
from webhook.services.optimise_models import (
    new_model_folder,
    prune_models,
    recalibrate,
    record_active_model,
    remove_model,
    serving_embedder,
    sweep_leftovers,
    write_snapshot,
)
from webhook.settings import Settings

log = logging.getLogger(__name__)


class JobRun:
    """One job's work; ``status`` is updated as it goes and ``share`` is called at each phase."""

    def __init__(
        self, kb: KnowledgeBase, settings: Settings, status: JobState, share: Callable[[], None], epochs: int | None
    ) -> None:
        self.kb = kb
        self.settings = settings
        self.status = status
        self.epochs = epochs or default_epochs(kb.articles)
        self._share = share
        self._lock = threading.Lock()  # between starting the child and a cancel
        self._child: FineTuneChild | None = None  # the fine-tuning process, while it runs
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop at the next point of return; a fine-tuning process is ended at once."""
        with self._lock:
            self._cancelled.set()
            child = self._child
        if child is not None:
            child.terminate()  # the job's thread sees it exit, cleans up and reports "cancelled"

    def work(self, kind: JobKind) -> str:
        """Run the job; returns the model switched to, raises :class:`JobCancelled` when cancelled."""
        settings = self.settings
        with self.kb.lock:
            snapshot = ArticleSet()
            for article in self.kb.articles:
                snapshot.add(article)
        model = settings.kb_model
        if kind == "optimise":
            model = self._fine_tune(snapshot, new_model_folder(settings))
        else:
            self._phase("loading the base model", 0.02)
        try:
            embedder = serving_embedder(model, settings)
            self._check_cancelled()
            self._phase("indexing the published articles", 0.8)
            fresh = KnowledgeBase(embedder, self.kb.thresholds, self.kb.weights)
            fresh.load(snapshot)
            self._check_cancelled()  # the last point of return: the swap and what follows is one step
        except JobCancelled:
            if model != settings.kb_model:
                shutil.rmtree(model, ignore_errors=True)
            raise
        self._phase("switching to the new model", 0.9)
        self.kb.adopt(fresh)
        self.kb.save(settings.kb_index_dir)
        record_active_model(settings, model)
        self._phase("recalibrating the fusion weights and thresholds", 0.93)
        self.status.calibration = recalibrate(self.kb, settings, source=kind)
        prune_models(settings, model)
        del fresh, embedder
        return_memory()
        return model

    def _phase(self, phase: str, progress: float) -> None:
        self.status.phase, self.status.progress = phase, round(progress, 3)
        log.info("%s job: %s (%.0f%%)", self.status.kind, phase, progress * 100)
        self._share()

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled()

    def _fine_tune(self, snapshot: ArticleSet, target: Path) -> str:
        """Fine-tune in a child process, following its progress; returns the new model's folder."""
        settings = self.settings
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(target.parent)
        snapshot_file = write_snapshot(snapshot, target.parent)
        request = FineTuneRequest(
            snapshot_file, settings.kb_model, target, self.epochs, settings.kb_optimise_nice, settings.kb_encoder_int8
        )
        self._phase("starting the fine-tuning process", 0.02)
        try:
            with self._lock:
                self._check_cancelled()
                child = self._child = FineTuneChild(request)
            self.status.process = child.pid
            log.info("optimise job: fine-tuning in process %d", child.pid)
            for line in child.lines():
                try:
                    self._follow(json.loads(line))
                except (ValueError, TypeError, KeyError, AttributeError):  # not one of its events
                    log.info("fine-tune: %s", line.rstrip())
            code = child.wait()
            self._check_cancelled()
            if code != 0:
                raise RuntimeError(child.failure(code))
            if not (target / "model.safetensors").is_file():
                raise RuntimeError(f"the fine-tuning process made no model at {target}")
            return str(target)
        except BaseException:
            remove_model(target)
            raise
        finally:
            with self._lock:
                if self._child is not None:
                    self._child.stop()
                self._child = None
                self.status.process = None
            snapshot_file.unlink(missing_ok=True)

    def _follow(self, event: dict[str, Any]) -> None:
        """Turn one of the child's progress events into the job's phase."""
        phase, epochs = event["phase"], self.epochs
        if phase == "loading":
            self._phase("loading the base model", 0.04)
        elif phase == "fine-tuning":
            done = int(event["epoch"])
            self._phase(f"fine-tuning: epoch {done} of {epochs}", 0.05 + 0.65 * done / epochs)
        elif phase == "saving":
            self._phase("saving the model", 0.71)
        elif phase == "exporting":
            self._phase("exporting the encoder", 0.73)
        elif phase == "done":
            log.info("optimise job: fine-tuned model ready (%s)", event.get("encoder"))
