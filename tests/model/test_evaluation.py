"""The eval and fine-tune commands with the real model, on a tiny dataset with known answers.

The calibration rule and the weights' choice alone are in tests/unit/test_evaluation.py.
"""

import json
import subprocess
import sys

import pytest

from knowledge_base.embeddings import Embedder
from tests.conftest import MODEL_DIR, ROOT

KB = [
    {"id": "reset", "title": "Reset your password", "examples": ["I forgot my password", "password reset link"]},
    {"id": "track", "title": "Track your parcel", "examples": ["where is my package", "tracking number"]},
    {"id": "refund", "title": "When will I get my refund?", "examples": ["refund not received", "money back"]},
    {"id": "invoice", "title": "Download an invoice", "examples": ["I need a VAT invoice", "receipt for my order"]},
    {"id": "fa-return", "title": "چطور کالا را مرجوع کنم؟", "examples": ["می‌خواهم سفارشم را پس بدهم"]},
]
QUESTIONS = [
    {"text": "I forgot my password, how do I reset it?", "expected": "reset", "lang": "en"},
    {"text": "where is my package right now", "expected": "track", "lang": "en"},
    {"text": "I still have not received my refund", "expected": "refund", "lang": "en"},
    {"text": "can I get a VAT invoice for my order", "expected": "invoice", "lang": "en"},
    {"text": "می‌خواهم کالا را مرجوع کنم", "expected": "fa-return", "lang": "fa", "variety": "colloquial"},
    {"text": "what is the capital of Mongolia", "expected": None, "lang": "en"},
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    (folder / "kb.jsonl").write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in KB))
    (folder / "q.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS))
    return folder


def _run(dataset, *extra):
    out = dataset / f"out{len(extra)}.json"
    command = [
        sys.executable,
        "-m",
        "knowledge_base",
        "eval",
        "--kb",
        str(dataset / "kb.jsonl"),
        "--queries",
        str(dataset / "q.jsonl"),
        "--json",
        str(out),
        "--model",
        str(MODEL_DIR),
        *extra,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_eval_command_writes_the_contract_fields(dataset):
    result = _run(dataset, "--no-optimise", "--calibrate", str(dataset / "q.jsonl"))
    assert result["n"] == 6
    assert result["top1"] == 1.0 and result["mrr5"] == 1.0
    assert result["in_scope_accuracy"] == pytest.approx(1.0)
    assert result["oos_recall"] == 1.0 and result["oos_precision"] == 1.0
    assert set(result["latency_ms"]) == {"p50", "p95"} and result["latency_ms"]["p95"] > 0
    assert set(result["by_lang"]) == {"en", "fa"} and result["by_lang"]["fa"]["top1"] == 1.0
    assert result["by_variety"] == {"colloquial": {"n": 1, "top1": 1.0, "mrr5": 1.0, "in_scope_accuracy": 1.0}}
    assert result["optimised"] is False


def test_eval_command_fine_tunes_when_asked(dataset):
    result = _run(dataset, "--epochs", "1")
    assert result["optimised"] is True
    assert result["encoder"] == "onnxruntime-int8"  # the fine-tuned weights are on the 8-bit grid: their copy agrees
    assert result["top1"] >= 0.8


def _fine_tune(*args):
    command = [sys.executable, "-m", "knowledge_base", "fine-tune", "--model", str(MODEL_DIR), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_fine_tune_command_makes_a_model_folder_with_its_encoder_and_reports_progress(dataset, tmp_path):
    target = tmp_path / "tuned"
    done = _fine_tune("--kb", str(dataset / "kb.jsonl"), "--target", str(target), "--epochs", "2", "--report")
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["phase"] for e in events] == ["loading", "fine-tuning", "fine-tuning", "saving", "exporting", "done"]
    assert [e["epoch"] for e in events if e["phase"] == "fine-tuning"] == [1, 2]
    assert events[-1] == {"phase": "done", "model": str(target), "encoder": "onnxruntime-int8", "epochs": 2}
    assert (target / "model.safetensors").is_file() and (target / "onnx" / "model.int8.onnx").is_file()
    assert not target.with_name("tuned.tmp").exists()
    # the folder is an ordinary model whose export is current: loading it exports nothing
    stamp = (target / "onnx" / "STAMP").stat().st_mtime_ns
    assert Embedder(target).backend == "onnxruntime-int8"
    assert (target / "onnx" / "STAMP").stat().st_mtime_ns == stamp

    again = _fine_tune("--kb", str(dataset / "kb.jsonl"), "--target", str(target))
    assert again.returncode == 2 and "exists" in again.stderr


def test_fine_tune_command_rejects_bad_input(dataset, tmp_path):
    zero = _fine_tune("--kb", str(dataset / "kb.jsonl"), "--target", str(tmp_path / "a"), "--epochs", "0")
    assert zero.returncode == 2 and "--epochs must be at least 1" in zero.stderr
    bad = tmp_path / "kb.jsonl"
    bad.write_text('{"title": "no id"}\n')
    broken = _fine_tune("--kb", str(bad), "--target", str(tmp_path / "b"))
    assert broken.returncode == 2 and "kb.jsonl:1: not a kb.jsonl article" in broken.stderr
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "only", "title": "The only article", "examples": ["a question"]}) + "\n")
    lonely = _fine_tune("--kb", str(one), "--target", str(tmp_path / "c"))
    assert lonely.returncode == 2 and "at least two articles" in lonely.stderr
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c"))


def test_fine_tune_command_stops_when_its_standard_input_closes(dataset, tmp_path):
    """The optimise job's child: when the worker that started it dies, it does not train on for nobody."""
    target = tmp_path / "orphan"
    command = [sys.executable, "-m", "knowledge_base", "fine-tune", "--model", str(MODEL_DIR)]
    command += ["--kb", str(dataset / "kb.jsonl"), "--target", str(target), "--epochs", "50"]
    command += ["--report", "--exit-with-stdin"]
    child = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(child.stdout.readline())["phase"] == "loading"
        child.stdin.close()
        assert child.wait(timeout=120) == 3
    finally:
        child.kill()
        child.wait()
    assert not target.exists()
