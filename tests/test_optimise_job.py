"""The optimise job on a real app: fine-tune in the background, swap models without losing edits, restart, revert."""

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import EDITOR_AUTH, LOCKER_ARTICLE, editor_settings
from webhook.app import create_app
from webhook.settings import Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    workdir = tmp_path_factory.mktemp("optimise")
    return editor_settings(workdir, kb_optimised_dir=workdir / "models", kb_active_model_file=workdir / "kb-model.json")


def _wait(client, timeout_s=900.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()
        if status["job"]["state"] != "running":
            return status
        time.sleep(0.5)
    pytest.fail("the job did not finish")


def _top(client, q):
    return client.get("/api/kb/search", params={"q": q}).json()["candidates"][0]["key"]


def test_optimise_swaps_in_a_fine_tuned_model_keeps_edits_and_survives_a_restart(settings):
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/kb/optimise", json={"epochs": 1}).status_code == 401
        assert client.post("/api/kb/optimise", json={"epochs": 0}, headers=EDITOR_AUTH).status_code == 422
        before = client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()
        assert before["model"] == settings.kb_model and before["job"]["state"] == "idle"

        started = client.post("/api/kb/optimise", json={"epochs": 1}, headers=EDITOR_AUTH)
        assert started.status_code == 202 and started.json()["job"]["state"] == "running"
        again = client.post("/api/kb/optimise", headers=EDITOR_AUTH)
        assert again.status_code == 409 and "running" in again.json()["detail"]
        # an article published while the job runs is searchable at once, and after the swap
        put = client.put("/api/kb/articles/luggage-locker/en", json=LOCKER_ARTICLE, headers=EDITOR_AUTH)
        assert put.status_code == 201
        assert _top(client, "where can I store my suitcase?") == "luggage-locker"

        done = _wait(client)
        assert done["job"]["state"] == "done", done["job"]["error"]
        model = Path(done["model"])
        assert done["job"]["model"] == str(model) and model.parent == settings.kb_optimised_dir
        assert (model / "model.safetensors").is_file()
        assert json.loads(settings.kb_active_model_file.read_text())["model"] == str(model)
        calibration = client.get("/api/kb/calibration", headers=EDITOR_AUTH).json()
        assert done["job"]["calibration"]["thresholds"] == calibration["thresholds"]
        assert done["job"]["calibration"]["weights"] == calibration["weights"]
        assert _top(client, "where can I store my suitcase?") == "luggage-locker"
        assert _top(client, "how do I return an item?") == "return-an-item"

    # a restart loads the optimised model, and the index saved for it
    with TestClient(create_app(settings)) as client:
        status = client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()
        assert status["model"] == str(model) and status["job"]["state"] == "idle"
        assert _top(client, "where can I store my suitcase?") == "luggage-locker"

        assert client.post("/api/kb/optimise/revert", headers=EDITOR_AUTH).status_code == 202
        reverted = _wait(client)
        assert reverted["job"]["state"] == "done" and reverted["model"] == settings.kb_model
        assert json.loads(settings.kb_active_model_file.read_text())["model"] == settings.kb_model
        assert _top(client, "how do I return an item?") == "return-an-item"
        # already on the base model
        assert client.post("/api/kb/optimise/revert", headers=EDITOR_AUTH).status_code == 422
