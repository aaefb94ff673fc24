"""``python -m knowledge_base fine-tune`` as a child process of the web worker.

Training in a child keeps its gigabytes (PyTorch's copy of the model, gradients,
optimiser state) out of the web worker; a run that runs out of memory ends the child,
not the worker; and stopping the child cancels the training. The child reports its
progress as JSON lines on its standard output and exits when its standard input
closes, so it does not outlive the worker that started it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from webhook.settings import ROOT

log = logging.getLogger(__name__)

STDERR_LINES_KEPT = 60  # enough for a Python traceback


@dataclass(frozen=True)
class FineTuneRequest:
    """What to fine-tune: the base model on the articles in ``snapshot`` (JSON lines), saved at ``target``."""

    snapshot: Path
    model: str
    target: Path
    epochs: int
    nice: int  # added to the child's CPU niceness, so that searches keep their priority
    int8: bool  # also export the encoder with 8-bit matrix products

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "knowledge_base", "fine-tune",
            "--kb", str(self.snapshot), "--model", self.model, "--target", str(self.target),
            "--epochs", str(self.epochs), "--nice", str(self.nice), "--report", "--exit-with-stdin",
        ]  # fmt: skip
        if not self.int8:
            command.append("--no-int8")
        return command


class FineTuneChild:
    """A running fine-tuning process: its output lines, its end, and how it failed."""

    def __init__(self, request: FineTuneRequest) -> None:
        self.process = subprocess.Popen(
            request.command(),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._reader = threading.Thread(target=self._drain, name="fine-tune-stderr", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def lines(self) -> Iterator[str]:
        """Its standard output, line by line, until it closes."""
        assert self.process.stdout is not None
        yield from self.process.stdout

    def wait(self) -> int:
        """Its exit status, once it has exited and its standard error has been read."""
        code = self.process.wait()
        self._reader.join(timeout=5)
        return code

    def failure(self, code: int) -> str:
        """Why it ended with ``code``, for the job's error message."""
        detail = error_lines(list(self._stderr_tail))
        how = f"was killed by signal {-code} (out of memory?)" if code < 0 else f"exited with code {code}"
        return f"the fine-tuning process {how}: {detail or 'no message'}"

    def terminate(self) -> None:
        """Ask it to end now (a cancel); whoever waits on it sees it exit."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self, grace_s: float = 10.0) -> None:
        """End it: close its standard input (it exits on that), then terminate, then kill."""
        child = self.process
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

    def _drain(self) -> None:
        """Log its standard error, keeping the last lines for the error message."""
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr_tail.append(line.rstrip())
            log.info("fine-tune: %s", line.rstrip())


def error_lines(lines: list[str]) -> str:
    """What the child said last that explains its end: its last traceback, else its last lines, warnings left out."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    chosen = lines[starts[-1] :] if starts else [line for line in lines if "Warning" not in line][-5:]
    return "; ".join(line.strip() for line in chosen if line.strip())[-1500:]
