"""The process supervisor behind `python -m webhook run`, with small real processes."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from webhook.runtime.supervisor import Service, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_when_one_service_dies_the_others_stop_and_the_status_is_non_zero():
    sleeper = Service("sleeper", SLEEPER)
    dying = Service("dying", [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"])
    supervisor = Supervisor([sleeper, dying], grace_s=5, out=io.StringIO())
    assert supervisor.run() == 3
    assert sleeper.process is not None and sleeper.process.poll() is not None
    assert "dying exited with status 3" in supervisor.out.getvalue()


def test_a_service_that_never_gets_ready_fails_the_start():
    never = Service("never", SLEEPER, ready_url="http://127.0.0.1:9/health")
    supervisor = Supervisor([never], grace_s=5, ready_timeout_s=2, out=io.StringIO())
    assert supervisor.run() == 1
    assert never.process is not None and never.process.poll() is not None


def test_a_service_that_ignores_sigterm_is_killed_after_the_grace_period():
    stubborn = Service(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(120)",
        ],
    )
    dying = Service("dying", [sys.executable, "-c", "import time; time.sleep(1.5)"])
    supervisor = Supervisor([stubborn, dying], grace_s=1, out=io.StringIO())
    assert supervisor.run() == 1  # dying exited 0 unexpectedly: still a failure of the whole
    assert stubborn.process is not None and stubborn.process.poll() is not None
    assert "killing it" in supervisor.out.getvalue()


@pytest.mark.parametrize(("signals", "spacing_s"), [(1, 0), (3, 0.01), (3, 0.01), (4, 0.3), (4, 0.3), (6, 0.2)])
def test_sigint_stops_every_child_and_exits_zero(tmp_path, signals, spacing_s):
    """Also with more signals while it stops (a Ctrl-C plus a wrapper forwarding it, an impatient user)."""
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import sys
        from webhook.runtime.supervisor import Service, Supervisor
        code = "import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\\\n'); time.sleep(120)"
        child = [sys.executable, "-c", code]
        sup = Supervisor([Service("a", child), Service("b", child)], grace_s=5)
        sys.exit(sup.run(on_ready=lambda: print("READY", flush=True), restore_signals=False))
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    deadline = time.monotonic() + 10
    while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = [int(p) for p in pids.read_text().split()]
    for _ in range(signals):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(spacing_s)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    assert not any(_alive(pid) for pid in children)
