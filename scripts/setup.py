"""Set everything up, idempotently: each step is skipped when it is up to date.

Runs with the system Python 3.11 and the standard library only, because it is
what creates the virtual environments. Steps:

  1. Debian packages (Rasa's matplotlib build, Chromium and fonts for tests)
  2. .venv       the app environment, from requirements/app.lock.txt
  3. .venv-rasa  the Rasa environment, from requirements/rasa.lock.txt
  4. the offline multilingual embedding model   -> models/embeddings/
  5. the database, the demo help centre, the index -> var/, models/index/
  6. the Rasa model                              -> models/rasa/

Long steps write their output to var/setup-logs/ and show a live status line;
a failing step prints the end of its log. Usage: python3.11 scripts/setup.py [--for-tests]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "setup-logs"
APP_VENV = ROOT / ".venv"
RASA_VENV = ROOT / ".venv-rasa"
RASA_MODEL = ROOT / "models" / "rasa" / "support.tar.gz"
DEBIAN_PACKAGES = {
    "rasa": ["libfreetype-dev", "libqhull-dev", "pkg-config"],
    "tests": ["chromium", "fonts-dejavu-core", "fonts-noto-core"],
}
TTY = sys.stdout.isatty()


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


class Step:
    """Runs one command with a live status line; its output goes to a log file."""

    def __init__(self, number: int, total: int, title: str) -> None:
        self.label = f"[{number}/{total}] {title}"
        self.started = time.monotonic()

    def skip(self, why: str) -> None:
        print(f"{self.label}: {why}", flush=True)

    def run(self, name: str, command: list[str], env: dict[str, str] | None = None, live: bool = False) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"{name}.log"
        print(f"{self.label} ...", flush=True)
        full_env = {**os.environ, **(env or {})}
        if live:  # the command draws its own progress bar
            code = subprocess.call(command, env=full_env, cwd=ROOT)
        else:
            with log_path.open("w") as log:
                proc = subprocess.Popen(command, env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
                stop = threading.Event()
                threading.Thread(target=self._ticker, args=(proc, log_path, stop), daemon=True).start()
                code = proc.wait()
                stop.set()
                time.sleep(0.05)
        elapsed = time.monotonic() - self.started
        if TTY:
            print("\r\033[K", end="")
        if code != 0:
            print(f"{self.label}: FAILED after {elapsed:.0f}s (exit {code})", flush=True)
            if not live and log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-40:]
                print("  " + "\n  ".join(tail))
                print(f"  full log: {log_path}")
            raise SystemExit(code or 1)
        print(f"{self.label}: done in {elapsed:.0f}s", flush=True)

    def _ticker(self, proc: subprocess.Popen[bytes], log_path: Path, stop: threading.Event) -> None:
        spinner = "|/-\\"
        i = 0
        last_plain = time.monotonic()
        while not stop.wait(0.5 if TTY else 5):
            elapsed = time.monotonic() - self.started
            last = _last_line(log_path)
            if TTY:
                width = shutil.get_terminal_size((100, 20)).columns
                line = f"{spinner[i % 4]} {self.label} {elapsed:4.0f}s  {last}"
                print("\r\033[K" + line[: width - 1], end="", flush=True)
            elif time.monotonic() - last_plain >= 30:  # CI logs: a line every 30 s
                print(f"  ... {elapsed:.0f}s  {last[:120]}", flush=True)
                last_plain = time.monotonic()
            i += 1


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = [ln for ln in f.read().decode(errors="replace").replace("\r", "\n").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""
    except OSError:
        return ""


def find_python311() -> str:
    for candidate in ("python3.11", "python3"):
        path = shutil.which(candidate)
        if path:
            out = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"], capture_output=True, text=True
            )
            if out.stdout.strip() == "True":
                return path
    raise SystemExit("Python 3.11 is required (python3.11 on PATH); see README.md")


def missing_debian_packages(names: list[str]) -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    missing = []
    for name in names:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in out.stdout:
            missing.append(name)
    return missing


def step_debian(step: Step, for_tests: bool) -> None:
    wanted = DEBIAN_PACKAGES["rasa"] + (DEBIAN_PACKAGES["tests"] if for_tests else [])
    missing = missing_debian_packages(wanted)
    if not missing:
        step.skip("Debian packages present" if shutil.which("dpkg-query") else "not Debian; skipped")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    script = f"{' '.join(sudo)} apt-get update -qq && {' '.join(sudo)} apt-get install -y -qq {' '.join(missing)}"
    step.run("debian", ["bash", "-c", script], env=env)


def _venv_current(venv: Path, lock: Path) -> bool:
    stamp = venv / ".lock-sha256"
    return stamp.exists() and stamp.read_text().strip() == digest(lock) and (venv / "bin" / "python").exists()


def step_app_venv(step: Step, python: str) -> None:
    lock = ROOT / "requirements" / "app.lock.txt"
    if _venv_current(APP_VENV, lock):
        step.skip("up to date")
        return
    pip = str(APP_VENV / "bin" / "pip")
    script = " && ".join(
        [
            f"{python} -m venv {APP_VENV}",
            # torch first, alone: this spec takes the CPU build; anything else pulls CUDA wheels
            f"{pip} install --disable-pip-version-check torch==2.13.0",
            f"{pip} install --disable-pip-version-check --no-deps -r {lock}",
        ]
    )
    step.run("venv-app", ["bash", "-c", script])
    (APP_VENV / ".lock-sha256").write_text(digest(lock))


def step_rasa_venv(step: Step, python: str) -> None:
    lock = ROOT / "requirements" / "rasa.lock.txt"
    if _venv_current(RASA_VENV, lock):
        step.skip("up to date")
        return
    pip = str(RASA_VENV / "bin" / "pip")
    script = " && ".join(
        [
            f"{python} -m venv {RASA_VENV}",
            # Rasa 3.6 declares python<3.11 but runs on 3.11 with these pins (README)
            f"{pip} install --disable-pip-version-check --ignore-requires-python --no-deps -r {lock}",
        ]
    )
    env = {"MPLSETUPCFG": str(ROOT / "scripts" / "mplsetup.cfg"), "RASA_TELEMETRY_ENABLED": "false"}
    step.run("venv-rasa", ["bash", "-c", script], env=env)
    (RASA_VENV / ".lock-sha256").write_text(digest(lock))


def step_embedding_model(step: Step) -> None:
    step.run("embedding-model", [str(APP_VENV / "bin" / "python"), "-m", "knowledge_base", "build-model"], live=True)


def step_index(step: Step) -> None:
    step.run("index", [str(APP_VENV / "bin" / "python"), "-m", "webhook", "prepare"], live=True)


def step_train(step: Step) -> None:
    inputs = [ROOT / "config.yml", ROOT / "bot" / "domain.yml", ROOT / "data", RASA_VENV / ".lock-sha256"]
    stamp_file = RASA_MODEL.with_suffix(".inputs-sha256")
    current = digest(*inputs)
    if RASA_MODEL.exists() and stamp_file.exists() and stamp_file.read_text().strip() == current:
        step.skip("Rasa model up to date")
        return
    command = [
        str(RASA_VENV / "bin" / "rasa"),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "bot/domain.yml",
        "--data",
        "data",
        "--out",
        str(RASA_MODEL.parent),
        "--fixed-model-name",
        "support",
    ]
    step.run("rasa-train", command, env={"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"})
    stamp_file.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--for-tests", action="store_true", help="also install what the tests need (Chromium)")
    args = parser.parse_args()
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    python = find_python311()
    started = time.monotonic()
    steps = [
        ("Debian packages", lambda s: step_debian(s, args.for_tests)),
        ("app environment (.venv)", lambda s: step_app_venv(s, python)),
        ("Rasa environment (.venv-rasa)", lambda s: step_rasa_venv(s, python)),
        ("offline embedding model", step_embedding_model),
        ("database, demo help centre and index", step_index),
        ("Rasa model", step_train),
    ]
    for number, (title, action) in enumerate(steps, start=1):
        action(Step(number, len(steps), title))
    print(f"setup complete in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
