"""Run several processes as one: start, wait until ready, stop all together.

Used by ``python -m webhook run``. If any child exits, the others are stopped
and the supervisor exits non-zero; SIGINT/SIGTERM stop every child cleanly
(SIGTERM to each process group, SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from webhook.domain.errors import StartupFailed


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str | None = None  # polled until it answers 2xx
    ready_check: Callable[[httpx.Response], bool] = lambda r: r.is_success
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None


class Supervisor:
    def __init__(
        self, services: list[Service], grace_s: float = 15.0, ready_timeout_s: float = 300.0, out=sys.stdout
    ) -> None:  # type: ignore[no-untyped-def]
        self.services = services
        self.grace_s = grace_s
        self.ready_timeout_s = ready_timeout_s
        self.out = out
        # Set by the signal handler. A plain attribute on purpose: a handler that touches a
        # threading.Event can deadlock with the main thread waiting on that same Event.
        self._stopping = False
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _pipe(self, service: Service) -> None:
        assert service.process is not None and service.process.stdout is not None
        for raw in iter(service.process.stdout.readline, b""):
            self.say(f"[{service.name}] {raw.decode(errors='replace').rstrip()}")

    def start(self) -> None:
        for service in self.services:
            env = {**os.environ, **service.env}
            service.process = subprocess.Popen(
                service.command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            threading.Thread(target=self._pipe, args=(service,), daemon=True).start()

    def dead(self) -> Service | None:
        for service in self.services:
            if service.process is not None and service.process.poll() is not None:
                return service
        return None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        pending = [s for s in self.services if s.ready_url]
        with httpx.Client(timeout=2.0) as http:
            while pending:
                if self._stopping:
                    raise StartupFailed("interrupted while starting")
                dead = self.dead()
                if dead is not None:
                    raise StartupFailed(f"{dead.name} exited with status {dead.process.returncode} while starting")  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise StartupFailed(f"not ready after {self.ready_timeout_s:.0f}s: {[s.name for s in pending]}")
                for service in list(pending):
                    try:
                        if service.ready_check(http.get(service.ready_url)):  # type: ignore[arg-type]
                            pending.remove(service)
                            self.say(f"[supervisor] {service.name} is ready")
                    except httpx.HTTPError:
                        pass
                time.sleep(0.5)

    def stop(self) -> None:
        """Stop every child: SIGTERM to its group, SIGKILL after the grace period."""
        running = [s for s in reversed(self.services) if s.process and s.process.poll() is None]
        for service in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.grace_s
        for service in running:
            assert service.process is not None
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"[supervisor] {service.name} did not stop in {self.grace_s:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()

    def run(self, on_ready: Callable[[], None] | None = None, restore_signals: bool = True) -> int:
        """Start, wait until ready, then watch. Returns the exit status for the command.

        A command that ends when this returns passes ``restore_signals=False``: SIGINT and
        SIGTERM are then ignored from here on, so a second Ctrl-C arriving while the
        interpreter exits cannot kill it (Python resets a Python-level handler to the
        default during finalisation, but leaves SIG_IGN alone).
        """
        interrupted = []

        def handle(signum: int, _frame: object) -> None:
            interrupted.append(signum)
            self._stopping = True

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            try:
                self.wait_ready()
            except StartupFailed as exc:
                if interrupted:
                    self.say("[supervisor] stopping")
                    return 0
                self.say(f"[supervisor] {exc}; stopping everything")
                return 1
            if on_ready:
                on_ready()
            while not self._stopping:
                time.sleep(0.5)
                if self._stopping:
                    break
                dead = self.dead()
                if dead is not None:
                    code = dead.process.returncode  # type: ignore[union-attr]
                    self.say(f"[supervisor] {dead.name} exited with status {code}; stopping everything")
                    return code if code else 1
            self.say("[supervisor] stopping")
            return 0
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler if restore_signals else signal.SIG_IGN)
