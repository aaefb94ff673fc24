"""The "optimise" job: fine-tune the embedding model on the help centre's own phrasings, then swap it in.

Fine-tuning (``knowledge_base/optimise.py``) is the largest single quality gain we
measured (docs/knowledge-base.md), but it takes minutes, so an editor starts it and
the bot keeps answering with the current model meanwhile:

1. snapshot the published articles;
2. in a child process (``python -m knowledge_base fine-tune``, at a lower CPU
   priority), fine-tune a fresh copy of the base model (``KB_MODEL``) on them,
   save it under ``KB_OPTIMISED_DIR`` and export its encoder;
3. build a complete index with it, aside;
4. swap model and index in one step (``KnowledgeBase.adopt``), applying the edits
   made during the job first, and save the index;
5. recalibrate the fusion weights and thresholds on ``KB_CALIBRATION_QUESTIONS``
   (scores shift with the model);
6. record the model in ``KB_ACTIVE_MODEL_FILE`` (used at the next start) and announce
   it on the bus, so that the other workers load it too.

Training in a child keeps its gigabytes (PyTorch's copy of the model, gradients,
optimiser state) out of the web worker, which only ever loads the finished ONNX
encoder; a training run that runs out of memory fails the job, not the worker; and
the job can be cancelled by stopping the child. The child exits when its standard
input closes, so it does not outlive the worker that started it.

Reverting goes back to the base model the same way, without step 2. One job runs at
a time across the workers that share ``KB_OPTIMISED_DIR`` (:class:`JobBoard`: a lock,
the job's state for every worker's API, and a way to ask for a cancel), so that two
editors behind a load balancer cannot start two trainings of several gigabytes each.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import gc
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from knowledge_base.articles import ArticleSet
from knowledge_base.calibration import apply_calibration, calibrate_knowledge_base
from knowledge_base.embeddings import Embedder
from knowledge_base.evaluation import load_questions
from knowledge_base.optimise import default_epochs, training_groups
from knowledge_base.search import KnowledgeBase
from webhook.domain.errors import JobCancelled, JobRunning, NoJobRunning
from webhook.runtime.events import KB_TOPIC, EventBus
from webhook.settings import ROOT, Settings

log = logging.getLogger(__name__)

KEEP_MODELS = 2  # the active optimised model and the one before it


@dataclass
class JobState:
    state: Literal["idle", "running", "done", "failed", "cancelled"] = "idle"
    kind: Literal["optimise", "revert"] | None = None
    phase: str = ""
    progress: float = 0.0  # 0..1 over the whole job
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    error: str | None = None
    model: str | None = None  # the model the job switched to
    process: int | None = None  # the fine-tuning process's id, while it runs
    worker: str | None = None  # host:pid of the worker running the job
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


class JobBoard:
    """The one optimise or revert job of the workers sharing a models folder.

    The worker running a job holds an exclusive ``flock`` on ``LOCK`` (the kernel drops
    it when that worker dies, so a crash never leaves it taken); it writes the job's
    state to ``STATUS`` as it goes, which the other workers' APIs show; and another
    worker asks it to stop by creating ``CANCEL``. It needs the folder to be local, or
    shared with working locks, as the other workers load the new model from it anyway.
    """

    LOCK, STATUS, CANCEL = ".optimise.lock", ".optimise-job.json", ".optimise-cancel"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: int | None = None  # the lock's file descriptor, while this worker holds it

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another worker has it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / self.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held = fd
        return True

    def release(self) -> None:
        if self._held is not None:
            os.close(self._held)  # closing the descriptor releases the lock
            self._held = None

    def held_elsewhere(self) -> bool:
        """Whether another worker runs a job now."""
        if self._held is not None:
            return False
        if not self.acquire():
            return True
        self.release()
        return False

    def publish(self, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{self.STATUS}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, self.folder / self.STATUS)

    def read(self) -> dict[str, Any] | None:
        try:
            record = json.loads((self.folder / self.STATUS).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and isinstance(record.get("job"), dict) else None

    def request_cancel(self) -> None:
        (self.folder / self.CANCEL).touch()

    def cancel_requested(self) -> bool:
        return (self.folder / self.CANCEL).exists()

    def clear_cancel(self) -> None:
        (self.folder / self.CANCEL).unlink(missing_ok=True)


class Optimiser:
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
        self._child: subprocess.Popen[str] | None = None  # the fine-tuning process, while it runs
        self._cancelled = threading.Event()

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
            if not self.board.acquire():
                other = (self.board.read() or {}).get("job", {})
                raise JobRunning(
                    f"a {other.get('kind') or 'model'} job has been running in another worker"
                    f" ({other.get('worker') or 'unknown'}) since {other.get('started_at') or 'recently'}"
                )
            self.status = JobState("running", kind, "starting", 0.0, datetime.now(UTC).isoformat(timespec="seconds"))
            self.status.worker = self.worker
            self._cancelled.clear()
            self.board.clear_cancel()  # a request for an earlier job
            self._share()
            try:
                epochs = epochs or default_epochs(self.kb.articles)
                self._task = asyncio.get_running_loop().create_task(self._run(kind, epochs), name=f"kb-{kind}")
            except BaseException:
                self.status = JobState()
                self.board.release()
                raise
        return self.status

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
            self._cancelled.set()
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()  # the job's thread sees it exit, cleans up and reports "cancelled"
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
            await asyncio.sleep(0.25)
            if self.board.cancel_requested():
                with contextlib.suppress(NoJobRunning):
                    self.cancel()
                return

    async def _run(self, kind: Literal["optimise", "revert"], epochs: int) -> None:
        started = time.perf_counter()
        watcher = asyncio.get_running_loop().create_task(self._watch_for_cancel(), name="kb-job-cancel-watch")
        try:
            model = await asyncio.to_thread(self._work, kind, epochs)
            self.status.model = model
            self.status.state, self.status.phase, self.status.progress = "done", "done", 1.0
            if self.bus is not None:
                await self.bus.publish(KB_TOPIC, {"model": model, "origin": self.origin})
        except JobCancelled:
            log.info("%s job cancelled", kind)
            self.status.state, self.status.phase = "cancelled", "cancelled"
        except Exception as exc:
            log.exception("%s job failed", kind)
            self.status.state, self.status.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            watcher.cancel()
            self.status.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            self.status.seconds = round(time.perf_counter() - started, 1)
            try:
                self._share()
            finally:
                self.board.release()

    # -- the work, in a thread -----------------------------------------------------------
    def _phase(self, phase: str, progress: float) -> None:
        self.status.phase, self.status.progress = phase, round(progress, 3)
        log.info("%s job: %s (%.0f%%)", self.status.kind, phase, progress * 100)
        self._share()

    def _share(self) -> None:
        """Put this worker's job on the board, for the other workers' APIs."""
        try:
            self.board.publish({"job": asdict(self.status)})
        except OSError:
            log.warning("could not write the job's state to %s", self.board.folder, exc_info=True)

    def _work(self, kind: str, epochs: int) -> str:
        settings = self.settings
        with self.kb.lock:
            snapshot = ArticleSet()
            for article in self.kb.articles:
                snapshot.add(article)
        model = settings.kb_model
        if kind == "optimise":
            target = settings.kb_optimised_dir / f"optimised-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
            model = self._fine_tune_in_child(snapshot, target, epochs)  # the index stamp names the model folder
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
        self._record(model)
        self._phase("recalibrating the fusion weights and thresholds", 0.93)
        self.status.calibration = self._recalibrate()
        self._prune(model)
        del fresh, embedder
        _return_memory()
        return model

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled()

    def _fine_tune_in_child(self, snapshot: ArticleSet, target: Path, epochs: int) -> str:
        """Run ``python -m knowledge_base fine-tune`` on the snapshot; follow its progress; return the folder."""
        settings = self.settings
        target.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(target.parent)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=".snapshot-", suffix=".jsonl", delete=False
        ) as file:
            for article in snapshot:
                row = {"id": article.key, "lang": article.lang, "title": article.title, "examples": article.questions}
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        command = [
            sys.executable, "-m", "knowledge_base", "fine-tune",
            "--kb", file.name, "--model", settings.kb_model, "--target", str(target), "--epochs", str(epochs),
            "--nice", str(settings.kb_optimise_nice), "--report", "--exit-with-stdin",
        ]  # fmt: skip
        if not settings.kb_encoder_int8:
            command.append("--no-int8")
        self._phase("starting the fine-tuning process", 0.02)
        stderr_tail: deque[str] = deque(maxlen=60)
        try:
            with self._guard:
                self._check_cancelled()
                child = self._child = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                )
            self.status.process = child.pid
            log.info("optimise job: fine-tuning in process %d", child.pid)
            reader = threading.Thread(target=_drain, args=(child, stderr_tail), name="fine-tune-stderr", daemon=True)
            reader.start()
            assert child.stdout is not None
            for line in child.stdout:
                try:
                    self._follow_child(json.loads(line), epochs)
                except (ValueError, TypeError, KeyError, AttributeError):  # not one of its events
                    log.info("fine-tune: %s", line.rstrip())
            code = child.wait()
            reader.join(timeout=5)
            self._check_cancelled()
            if code != 0:
                detail = _error_lines(list(stderr_tail))
                how = f"was killed by signal {-code} (out of memory?)" if code < 0 else f"exited with code {code}"
                raise RuntimeError(f"the fine-tuning process {how}: {detail or 'no message'}")
            if not (target / "model.safetensors").is_file():
                raise RuntimeError(f"the fine-tuning process made no model at {target}")
            return str(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(target.with_name(target.name + ".tmp"), ignore_errors=True)
            raise
        finally:
            with self._guard:
                if self._child is not None:
                    _stop(self._child)
                self._child = None
                self.status.process = None
            Path(file.name).unlink(missing_ok=True)

    @staticmethod
    def _sweep(folder: Path) -> None:
        """Remove what a job whose worker died left: a half-saved model, its snapshot (the lock is ours)."""
        for leftover in folder.glob("optimised-*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in folder.glob(".snapshot-*.jsonl"):
            leftover.unlink(missing_ok=True)

    def _follow_child(self, event: dict[str, Any], epochs: int) -> None:
        phase = event["phase"]
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
            del fresh, embedder
            _return_memory()

        await asyncio.to_thread(load)
        log.info("knowledge base: switched to %s, as another worker did", model)

    def job(self) -> dict[str, Any]:
        """The latest job of any worker: this worker's while it runs one, else the board's."""
        mine = asdict(self.status)
        if self.status.state == "running":
            return mine
        shared = (self.board.read() or {}).get("job")
        if not shared or (shared.get("started_at") or "") < (mine.get("started_at") or ""):
            return mine
        if shared.get("state") == "running" and not self.board.held_elsewhere():
            # its worker stopped without finishing it (the lock went with the process)
            shared = {**shared, "state": "failed", "process": None, "error": "the worker running it stopped"}
        if shared.get("state") == "running" and self.board.cancel_requested():
            shared = {**shared, "phase": "cancelling"}
        return dict(shared)

    def describe(self) -> dict[str, Any]:
        return {"job": self.job(), "model": self.kb.embedder.name, "base_model": self.settings.kb_model}


def _drain(child: subprocess.Popen[str], tail: deque[str]) -> None:
    """Log the child's standard error, keeping its last lines for the job's error message."""
    assert child.stderr is not None
    for line in child.stderr:
        tail.append(line.rstrip())
        log.info("fine-tune: %s", line.rstrip())


def _stop(child: subprocess.Popen[str], grace_s: float = 10.0) -> None:
    """End the child: close its standard input (it exits on that), then terminate, then kill."""
    if child.poll() is not None:
        return
    try:
        if child.stdin is not None:
            child.stdin.close()
    except OSError:
        pass
    try:
        child.wait(timeout=grace_s / 2)
        return
    except subprocess.TimeoutExpired:
        child.terminate()
    try:
        child.wait(timeout=grace_s / 2)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _error_lines(lines: list[str]) -> str:
    """What the child said last that explains its end: its last traceback, else its last lines, warnings left out."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    chosen = lines[starts[-1] :] if starts else [line for line in lines if "Warning" not in line][-5:]
    return "; ".join(line.strip() for line in chosen if line.strip())[-1500:]


def _return_memory() -> None:
    """Hand freed memory back to the system after a swap (glibc keeps it for reuse otherwise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
