"""The optimise job on a real app: fine-tune in the background, swap models without losing edits, restart, revert."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import EDITOR_AUTH, LOCKER_ARTICLE, editor_settings
from webhook.app import create_app
from webhook.settings import Settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
        # the last job is still shown (the job board, in the models folder)
        assert status["model"] == str(model) and status["job"]["state"] == "done"
        assert status["job"]["model"] == str(model)
        assert _top(client, "where can I store my suitcase?") == "luggage-locker"

        assert client.post("/api/kb/optimise/revert", headers=EDITOR_AUTH).status_code == 202
        reverted = _wait(client)
        assert reverted["job"]["state"] == "done" and reverted["model"] == settings.kb_model
        assert json.loads(settings.kb_active_model_file.read_text())["model"] == settings.kb_model
        assert _top(client, "how do I return an item?") == "return-an-item"
        # already on the base model
        assert client.post("/api/kb/optimise/revert", headers=EDITOR_AUTH).status_code == 422


def _models(settings) -> list[str]:
    """What is in the models folder, but for the job board's own files (webhook.services.optimise_board.JobBoard)."""
    folder = settings.kb_optimised_dir
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".optimise")) if folder.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_optimise_fine_tunes_in_a_child_process_that_can_be_cancelled(settings):
    with TestClient(create_app(settings)) as client:
        before = _models(settings)
        assert client.post("/api/kb/optimise/cancel").status_code == 401
        nothing = client.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH)
        assert nothing.status_code == 409 and "no optimise" in nothing.json()["detail"]

        assert client.post("/api/kb/optimise", json={"epochs": 10}, headers=EDITOR_AUTH).status_code == 202
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()["job"]
            if job["process"] and job["phase"].startswith(("loading", "fine-tuning")):
                break
            assert job["state"] == "running", job
            time.sleep(0.2)
        else:
            pytest.fail(f"the fine-tuning process did not start: {job}")
        pid = job["process"]
        assert pid != os.getpid() and _alive(pid)  # training is another process's memory, not the worker's
        assert "fine-tune" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")

        cancelled = client.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH)
        assert cancelled.status_code == 200
        done = _wait(client)
        assert done["job"]["state"] == "cancelled" and done["job"]["error"] is None, done["job"]
        assert done["job"]["process"] is None and not _alive(pid)
        assert done["model"] == settings.kb_model  # the model in use stays
        # no half-made model, no snapshot file left behind
        assert _models(settings) == before
        assert _top(client, "how do I return an item?") == "return-an-item"
        assert client.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH).status_code == 409


def test_a_fine_tuning_process_that_dies_fails_the_job_and_leaves_the_worker_serving(settings):
    with TestClient(create_app(settings)) as client:
        before = _models(settings)
        assert client.post("/api/kb/optimise", json={"epochs": 10}, headers=EDITOR_AUTH).status_code == 202
        deadline = time.monotonic() + 300
        while not (job := client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()["job"])["process"]:
            assert job["state"] == "running" and time.monotonic() < deadline, job
            time.sleep(0.2)
        os.kill(job["process"], signal.SIGKILL)  # what the kernel's out-of-memory killer does
        done = _wait(client)
        assert done["job"]["state"] == "failed"
        assert "killed by signal 9" in done["job"]["error"], done["job"]["error"]
        assert done["model"] == settings.kb_model
        assert _models(settings) == before
        assert _top(client, "how do I return an item?") == "return-an-item"


def _job(client) -> dict:
    return client.get("/api/kb/optimise", headers=EDITOR_AUTH).json()["job"]


def test_workers_share_one_job_see_it_cancel_it_and_follow_its_model(tmp_path):
    """Two workers on one database, one Redis and one models folder, as behind a load balancer."""
    settings = editor_settings(
        tmp_path,
        redis_url=REDIS_URL,
        kb_reconcile_s=0,
        kb_optimised_dir=tmp_path / "models",
        kb_active_model_file=tmp_path / "kb-model.json",
    )
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        assert first.post("/api/kb/optimise", json={"epochs": 10}, headers=EDITOR_AUTH).status_code == 202
        seen = _job(second)  # the second worker shows the first one's job
        assert seen["state"] == "running" and seen["worker"] == _job(first)["worker"]
        refused = second.post("/api/kb/optimise", json={"epochs": 1}, headers=EDITOR_AUTH)
        assert refused.status_code == 409 and "another worker" in refused.json()["detail"]
        # a cancel sent to the second worker stops the first one's job
        asked = second.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH)
        assert asked.status_code == 200 and asked.json()["job"]["state"] == "running"
        cancelled = _wait(first, timeout_s=120)
        assert cancelled["job"]["state"] == "cancelled", cancelled["job"]
        assert _job(second)["state"] == "cancelled"
        assert second.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH).status_code == 409

        # a job run on the second worker: the first loads its model when it is announced
        assert second.post("/api/kb/optimise", json={"epochs": 1}, headers=EDITOR_AUTH).status_code == 202
        done = _wait(second)
        assert done["job"]["state"] == "done", done["job"]["error"]
        deadline = time.monotonic() + 120
        while first.get("/api/kb/optimise", headers=EDITOR_AUTH).json()["model"] != done["model"]:
            assert time.monotonic() < deadline, "the first worker did not switch to the new model"
            time.sleep(0.2)
        assert _job(first)["state"] == "done" and _job(first)["model"] == done["model"]
        assert _top(first, "how do I return an item?") == "return-an-item"

    # a job whose worker died (its lock went with it) is shown as failed, not running forever
    record = json.loads((tmp_path / "models" / ".optimise-job.json").read_text())
    record["job"].update(state="running", started_at="9999-01-01T00:00:00+00:00", process=12345)
    (tmp_path / "models" / ".optimise-job.json").write_text(json.dumps(record))
    with TestClient(create_app(settings)) as restarted:
        job = _job(restarted)
        assert job["state"] == "failed" and job["error"] == "the worker running it stopped"
        assert restarted.post("/api/kb/optimise/cancel", headers=EDITOR_AUTH).status_code == 409
