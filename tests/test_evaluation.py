"""The evaluation command on a tiny dataset with known answers, and the calibration rule."""

import json
import subprocess
import sys
from dataclasses import asdict

import pytest

from knowledge_base.embeddings import Embedder
from knowledge_base.evaluation import (
    Collected,
    Ranked,
    calibrate,
    choose_weights,
    load_kb_jsonl,
    metrics,
    ranked_under,
)
from knowledge_base.search import Candidate, Thresholds, Weights
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


def test_a_broken_kb_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "kb.jsonl"
    bad.write_text('{"title": "no id"}\n')
    with pytest.raises(ValueError, match=r"kb\.jsonl:1: not a kb\.jsonl article"):
        load_kb_jsonl(bad)


def test_kb_jsonl_languages_are_detected_when_absent(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in KB))
    articles = load_kb_jsonl(path)
    assert articles.by_key["fa-return"].keys() == {"fa"} and articles.by_key["reset"].keys() == {"en"}


def _ranked(expected, keys, best, runner_up):
    return Ranked({"text": "q", "expected": expected}, keys, best, runner_up, 1.0)


def test_calibration_separates_answerable_from_out_of_scope():
    results = (
        [_ranked("a", ["a", "b"], 0.90 + i / 1000, 0.80) for i in range(20)]  # confident and right
        + [_ranked("a", ["b", "a"], 0.78, 0.775) for _ in range(5)]  # close call, right one second
        + [_ranked(None, ["a", "b"], 0.60 + i / 1000, 0.59) for i in range(10)]  # out of scope, low
    )
    t = calibrate(results)
    assert 0.61 <= t.clarify <= 0.78  # every out-of-scope question declined, no answerable one
    assert t.answer > 0.78 or t.margin > 0.005  # the close calls are clarified, not answered wrongly
    m = metrics(results, t)
    assert m["oos_recall"] == 1.0 and m["in_scope_accuracy"] == pytest.approx(20 / 25)
    assert m["decisions"] == {"answer": 20, "clarify": 5, "decline": 10}


def test_without_out_of_scope_questions_only_the_lowest_are_declined():
    results = [_ranked("a", ["a"], 0.5 + i / 100, None) for i in range(50)]
    t = calibrate(results)
    declined = sum(r.best < t.clarify for r in results)
    assert declined <= 1


def test_metrics_of_fixed_thresholds():
    results = [_ranked("a", ["a", "b"], 0.9, 0.5), _ranked("a", ["b", "a"], 0.9, 0.5), _ranked(None, ["a"], 0.1, 0.0)]
    m = metrics(results, Thresholds(answer=0.8, clarify=0.3, margin=0.1))
    assert m["top1"] == 0.5 and m["mrr5"] == 0.75 and m["in_scope_accuracy"] == 0.5
    assert m["oos_recall"] == 1.0 and m["oos_precision"] == 1.0


def test_calibration_meets_the_stated_targets_when_scores_overlap():
    """Out-of-scope scores overlap the answerable ones: 90 % of them are declined, and 85 % of answers are right."""
    results = (
        [_ranked("a", ["a", "b"], 0.70 + i / 100, 0.5) for i in range(30)]  # right, 0.70 .. 0.99
        + [_ranked("a", ["b", "a"], 0.72 + i / 50, 0.5) for i in range(10)]  # wrong at the top, 0.72 .. 0.90
        + [_ranked(None, ["a"], 0.50 + i / 50, 0.4) for i in range(20)]  # out of scope, 0.50 .. 0.88
    )
    t = calibrate(results)
    m = metrics(results, t)
    assert m["oos_recall"] >= 0.90
    answered = [r for r in results if r.best >= t.answer and r.best - r.runner_up >= t.margin]
    right = sum(r.expected is not None and r.keys[0] == r.expected for r in answered)
    assert answered and right / len(answered) >= 0.85
    # the decline threshold is the lowest that meets the recall target
    assert sum(r.best < t.clarify - 0.011 for r in results if r.expected is None) < 18


def _collected(expected, *candidates):
    return Collected({"text": "q", "expected": expected}, [Candidate(*c, "q", "ar") for c in candidates], 1.0)


def test_weights_follow_the_signal_that_ranks_right():
    """Where the lexical signal tells articles apart and the dense one misleads, it gets more weight."""
    misled = [  # dense prefers "b" a little, lexical clearly prefers the right "a"
        _collected("a", ("a", 0.80, 0.80, 0.35), ("b", 0.86, 0.86, 0.20), ("c", 0.70, 0.70, 0.25)) for _ in range(20)
    ]
    plain = [_collected("b", ("a", 0.70, 0.70, 0.30), ("b", 0.90, 0.90, 0.35)) for _ in range(20)]
    default_right = sum(r.keys[0] == r.expected for r in ranked_under(misled + plain, Weights()))
    assert default_right == 20  # the default weights get every "misled" question wrong

    weights, choice = choose_weights(misled + plain)
    assert weights.lexical > Weights().lexical
    assert all(r.keys[0] == r.expected for r in ranked_under(misled + plain, weights))
    assert {k: choice[k] for k in ("questions", "top1", "default_top1", "best_tried_top1")} == {
        "questions": 40,
        "top1": 1.0,
        "default_top1": 0.5,
        "best_tried_top1": 1.0,
    }
    assert choice["best_tried"] == asdict(weights)


def test_default_weights_stay_unless_another_setting_is_clearly_better():
    """One question's worth of difference is noise: the defaults are kept."""
    one = _collected("a", ("a", 0.80, 0.80, 0.35), ("b", 0.86, 0.86, 0.20), ("c", 0.70, 0.70, 0.25))
    plain = [_collected("b", ("a", 0.70, 0.70, 0.30), ("b", 0.90, 0.90, 0.35)) for _ in range(40)]
    weights, choice = choose_weights([one, *plain])
    assert weights == Weights()
    assert choice["top1"] == choice["default_top1"] == pytest.approx(40 / 41, abs=1e-4)
    # the better pair is reported with its score, short of the 2 questions needed
    assert choice["best_tried_top1"] == pytest.approx(1.0) and choice["needed"] == 2
    assert choice["best_tried"]["lexical"] > Weights().lexical


def test_out_of_scope_questions_do_not_steer_the_weights():
    oos = [_collected(None, ("a", 0.80, 0.80, 0.60), ("b", 0.83, 0.82, 0.20)) for _ in range(30)]
    plain = [_collected("b", ("a", 0.70, 0.70, 0.30), ("b", 0.90, 0.90, 0.35)) for _ in range(5)]
    weights, choice = choose_weights(oos + plain)
    assert weights == Weights() and choice["questions"] == 5


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
