"""The optimise job's state, and the board that shares it between the workers of one models folder."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

JobKind = Literal["optimise", "revert"]


class JobCalibration(BaseModel):
    """The fusion weights and thresholds the job recalibrated to, and how they scored."""

    thresholds: dict[str, float]
    weights: dict[str, float]
    metrics: dict[str, Any]


class JobState(BaseModel):
    """One optimise or revert job, as the API shows it and the board stores it."""

    state: Literal["idle", "running", "done", "failed", "cancelled"] = "idle"
    kind: JobKind | None = None
    phase: str = ""
    progress: float = 0.0  # 0..1 over the whole job
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    error: str | None = None
    model: str | None = None  # the model the job switched to
    process: int | None = None  # the fine-tuning process's id, while it runs
    worker: str | None = None  # host:pid of the worker running the job
    calibration: JobCalibration | None = None


class OptimiseStatus(BaseModel):
    """The model in use, the base model, and the latest job."""

    job: JobState
    model: str
    base_model: str


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

    def publish(self, job: JobState) -> None:
        """Write the job's state for the other workers (replacing the file in one step)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{self.STATUS}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps({"job": job.model_dump()}, indent=2))
        os.replace(tmp, self.folder / self.STATUS)

    def read(self) -> JobState | None:
        """The job last written by any worker; None when there is none (or the file is unreadable)."""
        try:
            record = json.loads((self.folder / self.STATUS).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("job"), dict):
            return None
        try:
            return JobState.model_validate(record["job"])
        except ValidationError:
            return None

    def request_cancel(self) -> None:
        (self.folder / self.CANCEL).touch()

    def cancel_requested(self) -> bool:
        return (self.folder / self.CANCEL).exists()

    def clear_cancel(self) -> None:
        (self.folder / self.CANCEL).unlink(missing_ok=True)
