"""The evaluation format's reader, the calibration rule and the choice of fusion weights, on made-up scores.

The eval and fine-tune commands, which load the real model, are in tests/model/test_evaluation.py.
"""

import json
from dataclasses import asdict

import pytest

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

KB = [
    {"id": "reset", "title": "Reset your password", "examples": ["I forgot my password", "password reset link"]},
    {"id": "track", "title": "Track your parcel", "examples": ["where is my package", "tracking number"]},
    {"id": "refund", "title": "When will I get my refund?", "examples": ["refund not received", "money back"]},
    {"id": "invoice", "title": "Download an invoice", "examples": ["I need a VAT invoice", "receipt for my order"]},
    {"id": "fa-return", "title": "چطور کالا را مرجوع کنم؟", "examples": ["می‌خواهم سفارشم را پس بدهم"]},
]


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
