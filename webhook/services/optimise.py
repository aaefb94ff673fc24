"""The "optimise" job: fine-tune the embedding model on the help centre's own phrasings, then swap it in.

Fine-tuning (``knowledge_base/optimise.py``) is the largest single quality gain of the
knowledge base (docs/knowledge-base.md), but it takes minutes, so an editor starts it
and the bot keeps answering with the current model meanwhile. The steps, run in a
thread, are in :mod:`webhook.services.optimise_run`; the training runs in a child
process (:mod:`webhook.runtime.fine_tune_child`), so that its memory is never the web
worker's and a cancel can stop it. After the swap the model is announced on the bus,
so that the other workers load it too (:meth:`Optimiser.follow`).

Reverting goes back to the base model the same way, without the training. One job runs
at a time across the workers that share ``KB_OPTIMISED_DIR``
(:class:`~webhook.services.optimise_board.JobBoard`: a lock, the job's state for every
worker's API, and a way to ask for a cancel), so that two editors behind a load
balancer cannot start two trainings of several gigabytes each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import apply_calibration
from knowledge_base.optimise import training_groups
from knowledge_base.search import KnowledgeBase
from webhook.domain.errors import JobCancelled, JobRunning, NoJobRunning
from webhook.runtime.events import KB_TOPIC, EventBus
from webhook.runtime.memory import return_memory
from webhook.services.kb_events import ModelChanged, as_event
from webhook.services.optimise_board import JobBoard, JobKind, JobState, OptimiseStatus
from webhook.services.optimise_models import serving_embedder
from webhook.services.optimise_run import JobRun
from webhook.settings import Settings

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.25  # how often the running worker looks for another worker's cancel request


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Optimiser:
    """This worker's side of the optimise and revert jobs: start, cancel, show, and follow another worker's."""

    def __init__(self, kb: KnowledgeBase, settings: Settings, bus: EventBus | None, origin: str) -> None:
        self.kb = kb
        self.settings = settings
        self.bus = bus
        self.origin = origin
        self.status = JobState()
        self.board = JobBoard(settings.kb_optimised_dir)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"  # shown with the job, for operators
        self._guard = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._run: JobRun | None = None  # the running job's work, while there is one

    # -- starting and stopping -------------------------------------------------------------
    def start(self, kind: JobKind, epochs: int | None = None) -> JobState:
        """Start a job in the background; raise :class:`JobRunning` if one is running."""
        with self._guard:
            self._check_can_start(kind)
            self.status = JobState(state="running", kind=kind, phase="starting", started_at=_now(), worker=self.worker)
            self.board.clear_cancel()  # a request for an earlier job
            self._share()
            try:
                run = self._run = JobRun(self.kb, self.settings, self.status, self._share, epochs)
                self._task = asyncio.get_running_loop().create_task(self._execute(kind, run), name=f"kb-{kind}")
            except BaseException:
                self.status = JobState()
                self.board.release()
                raise
        return self.status

    def _check_can_start(self, kind: JobKind) -> None:
        """Raise unless a job of ``kind`` may start now; on success this worker holds the board's lock."""
        if self.status.state == "running":
            raise JobRunning(f"a {self.status.kind} job has been running since {self.status.started_at}")
        if kind == "optimise" and len(training_groups(self.kb.articles)) < 2:
            raise ValueError("optimising needs at least two published articles with alternative questions")
        if kind == "revert" and self.kb.embedder.name == self.settings.kb_model:
            raise ValueError(f"the base model {self.settings.kb_model} is already in use")
        if not self.board.acquire():
            other = self.board.read() or JobState()
            raise JobRunning(
                f"a {other.kind or 'model'} job has been running in another worker"
                f" ({other.worker or 'unknown'}) since {other.started_at or 'recently'}"
            )

    def cancel(self) -> JobState:
        """Stop the running job; raise :class:`NoJobRunning` if there is none.

        Fine-tuning stops at once (its process is ended). Once the new model is
        being switched in, the job finishes instead: the swap is one step.
        """
        with self._guard:
            if self.status.state != "running":
                if self.board.held_elsewhere():
                    self.board.request_cancel()  # the worker running it sees the request and stops
                    return self.status
                raise NoJobRunning("no optimise or revert job is running")
            run = self._run
        if run is not None:
            run.cancel()
        return self.status

    async def close(self) -> None:
        """At shutdown: cancel a running job and wait for it, so that no child outlives the worker."""
        if self.status.state == "running":
            with contextlib.suppress(NoJobRunning):
                self.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self) -> JobState:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.status

    async def _watch_for_cancel(self) -> None:
        """Cancel when another worker asks to (``JobBoard.CANCEL``)."""
        while True:
            await asyncio.sleep(CANCEL_POLL_S)
            if self.board.cancel_requested():
                with contextlib.suppress(NoJobRunning):
                    self.cancel()
                return

    async def _execute(self, kind: JobKind, run: JobRun) -> None:
        """Run the job in a thread, record how it ended, announce the new model, and free the board."""
        started = time.perf_counter()
        watcher = asyncio.get_running_loop().create_task(self._watch_for_cancel(), name="kb-job-cancel-watch")
        try:
            model = await asyncio.to_thread(run.work, kind)
            self.status.model = model
            self.status.state, self.status.phase, self.status.progress = "done", "done", 1.0
            if self.bus is not None:
                await self.bus.publish(KB_TOPIC, as_event(ModelChanged(model, self.origin)))
        except JobCancelled:
            log.info("%s job cancelled", kind)
            self.status.state, self.status.phase = "cancelled", "cancelled"
        except Exception as exc:
            log.exception("%s job failed", kind)
            self.status.state, self.status.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            watcher.cancel()
            self.status.finished_at = _now()
            self.status.seconds = round(time.perf_counter() - started, 1)
            try:
                self._share()
            finally:
                self.board.release()

    def _share(self) -> None:
        """Put this worker's job on the board, for the other workers' APIs."""
        try:
            self.board.publish(self.status)
        except OSError:
            log.warning("could not write the job's state to %s", self.board.folder, exc_info=True)

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
            del fresh, embedder
            return_memory()

        await asyncio.to_thread(load)
        log.info("knowledge base: switched to %s, as another worker did", model)

    # -- showing ------------------------------------------------------------------------------
    def job(self) -> JobState:
        """The latest job of any worker: this worker's while it runs one, else the board's."""
        mine = self.status.model_copy()
        if mine.state == "running":
            return mine
        shared = self.board.read()
        if shared is None or (shared.started_at or "") < (mine.started_at or ""):
            return mine
        if shared.state == "running" and not self.board.held_elsewhere():
            # its worker stopped without finishing it (the lock went with the process)
            shared = shared.model_copy(
                update={"state": "failed", "process": None, "error": "the worker running it stopped"}
            )
        if shared.state == "running" and self.board.cancel_requested():
            shared = shared.model_copy(update={"phase": "cancelling"})
        return shared

    def describe(self) -> OptimiseStatus:
        return OptimiseStatus(job=self.job(), model=self.kb.embedder.name, base_model=self.settings.kb_model)
