"""Rasa's own checks, run with its own CLI from ``.venv-rasa``: the training data, and the test stories.

``rasa data validate`` checks the domain, the NLU data, the stories and rules (with
``--fail-on-warnings``: an intent or response used but not declared fails too).
``rasa test core --e2e`` runs ``tests/rasa/test_stories.yml`` against the trained model:
each user turn's text is classified by the model's NLU and compared with the story's
intent, and each next action with the policies' prediction; any mismatch fails. Neither
needs the custom actions, which live in the web process.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import RASA_MODEL, ROOT

RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
STORIES = Path(__file__).resolve().parent / "test_stories.yml"  # Rasa reads only files named test_*
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}


def rasa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RASA), *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_the_training_data_validates():
    done = rasa(
        "data", "validate", "--fail-on-warnings",
        "--domain", "bot/domain.yml", "--data", "data", "--config", "config.yml",
    )  # fmt: skip
    assert done.returncode == 0, explain(done)


def test_the_test_stories_pass_on_the_trained_model(tmp_path: Path):
    stories = STORIES.read_text()
    done = rasa(
        "test", "core", "--e2e", "--stories", str(STORIES), "--model", str(RASA_MODEL),
        "--fail-on-prediction-errors", "--no-plot", "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, explain(done)
    output = done.stdout + done.stderr
    assert f"Evaluating {stories.count('- story:')} stories" in output, explain(done)  # none skipped
    assert "None of the test stories failed" in (tmp_path / "failed_test_stories.yml").read_text()
