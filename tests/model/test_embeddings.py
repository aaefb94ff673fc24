"""The ONNX Runtime encoder gives PyTorch's vectors, and follows the weights when they change.

The float export matches PyTorch to 1e-4; the 8-bit copy (the default) to 1e-3, and
it is used only after agreeing with the float export.
"""

import gc

import numpy as np
import pytest
import torch

from knowledge_base import embeddings
from knowledge_base.embeddings import INT8_FILE, INT8_REJECTED, Embedder
from tests.conftest import MODEL_DIR

TEXTS = [
    "how do I reset my card pin",
    "چطور رمز کارتم را عوض کنم؟",
    "لم يصلني المبلغ المسترد بعد",
    "word " * 800,  # longer than the model's 512 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def embedders():
    return Embedder(MODEL_DIR), Embedder(MODEL_DIR, onnx=False)


def test_onnx_vectors_are_pytorch_vectors(embedders):
    fast, reference = embedders
    assert fast.accelerated and not reference.accelerated
    assert fast.weights == "int8" and fast.backend == "onnxruntime-int8" and reference.backend == "pytorch"
    exact = Embedder(MODEL_DIR, int8=False, query_cache=0)
    assert exact.weights == "float"
    for method in ("encode_queries", "encode_passages"):
        a, b = getattr(fast, method)(TEXTS), getattr(reference, method)(TEXTS)
        assert a.shape == b.shape == (len(TEXTS), fast.dimension) and a.dtype == np.float32
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        assert (a * b).sum(axis=1).min() > 0.999
        assert (getattr(exact, method)(TEXTS) * b).sum(axis=1).min() > 0.9999
        assert (a * b).sum(axis=1).min() < 0.999999  # the 8-bit products are really in use
    del exact
    gc.collect()
    # queries and passages differ (the e5 prompts are applied on the ONNX path too)
    assert (fast.encode_queries(TEXTS[:1]) @ fast.encode_passages(TEXTS[:1]).T)[0, 0] < 0.999
    assert fast.encode_queries([]).shape == (0, fast.dimension)


def test_large_batches_run_in_onnx_without_the_pytorch_weights(embedders):
    fast, reference = embedders
    assert fast._model is None  # the session holds the weights; PyTorch's copy was let go
    texts = [f"question {i}: " + "card " * (i % 7) for i in range(40)] + ["word " * 600] * 3 + TEXTS
    batches = list(fast._onnx_batches(texts))
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    assert max(len(b) for b in batches) <= 32
    assert 40 in batches[0] and len(batches[0]) <= 4096 // 512  # 512-token bodies: a batch within the token budget
    a, b = fast.encode_passages(texts), reference.encode_passages(texts)
    assert fast._model is None and (a * b).sum(axis=1).min() > 0.999
    assert fast.model is not None and fast.model.tokenizer is not None  # loaded again on demand


def test_the_pytorch_weights_are_freed_at_once(embedders):
    from sentence_transformers import SentenceTransformer

    def alive() -> int:
        return sum(isinstance(o, SentenceTransformer) for o in gc.get_objects())

    before = alive()
    fast = Embedder(MODEL_DIR)
    assert fast.accelerated and alive() == before  # nothing (not even a bound method) keeps the loaded model


def test_a_repeated_question_is_not_encoded_again(embedders, monkeypatch):
    fast, reference = embedders
    runs = []
    encode = fast._encode_onnx
    monkeypatch.setattr(fast, "_encode_onnx", lambda texts, *a, **k: runs.append(list(texts)) or encode(texts, *a, **k))
    first = fast.encode_queries(["where is my refund?"])
    first[0, 0] = 42.0  # a caller's changes do not reach the cache
    again = fast.encode_queries(["where is my refund?"])
    assert runs == [["where is my refund?"]]  # encoded once
    assert (again @ reference.encode_queries(["where is my refund?"]).T)[0, 0] > 0.999
    fast.encode_passages(["where is my refund?"])  # a passage is another text to the model
    fast.encode_queries(["where is my refund?", "and my card?"])  # batches (an index build) are not cached
    assert len(runs) == 3
    uncached = Embedder(MODEL_DIR, query_cache=0)  # what the benchmarks use
    calls = []
    raw = uncached._encode_onnx
    monkeypatch.setattr(uncached, "_encode_onnx", lambda texts, *a, **k: calls.append(1) or raw(texts, *a, **k))
    uncached.encode_queries(["where is my refund?"])
    uncached.encode_queries(["where is my refund?"])
    assert len(calls) == 2


def test_the_question_cache_holds_the_most_recent_questions(monkeypatch):
    small = Embedder(MODEL_DIR, query_cache=2)
    runs = []
    encode = small._encode_onnx
    monkeypatch.setattr(small, "_encode_onnx", lambda texts, *a, **k: runs.append(texts[0]) or encode(texts, *a, **k))
    for text in ["a", "b", "a", "c", "a", "b"]:
        small.encode_queries([text])
    assert runs == ["a", "b", "c", "b"]  # "b" was the least recent when "c" came


def test_changed_weights_are_exported_again(tmp_path):
    tuned = Embedder(MODEL_DIR)
    before = tuned.encode_queries(TEXTS[:2])
    cached = tuned.encode_queries(TEXTS[:1])
    layer = tuned.model[0].auto_model.encoder.layer[0].intermediate.dense
    with torch.no_grad():
        layer.weight.mul_(1.5)  # what fine-tuning does: the weights change in memory
    assert tuned.accelerate(tmp_path / "onnx")
    assert tuned.weights == "int8" and (tmp_path / "onnx" / INT8_FILE).exists()  # the new weights' own 8-bit copy
    stamp = (tmp_path / "onnx" / "STAMP").read_text()
    after = tuned.encode_queries(TEXTS[:2])
    assert (before * after).sum(axis=1).max() < 0.9999  # the new weights are in use
    assert (cached @ tuned.encode_queries(TEXTS[:1]).T)[0, 0] < 0.9999  # no question cached under the old ones
    tuned._session = None  # PyTorch, for reference
    assert (after * tuned.encode_queries(TEXTS[:2])).sum(axis=1).min() > 0.999
    # the base model's own export was left alone
    assert (MODEL_DIR / "onnx" / "STAMP").read_text() != stamp


def test_an_8bit_copy_that_disagrees_is_not_used(tmp_path, monkeypatch):
    model = Embedder(MODEL_DIR, onnx=False)
    folder = tmp_path / "onnx"
    monkeypatch.setattr(embeddings, "INT8_MIN_COSINE", 1.000001)  # no 8-bit copy can agree this closely
    assert model.accelerate(folder)
    assert model.weights == "float" and model.backend == "onnxruntime"
    assert not (folder / INT8_FILE).exists() and not list(folder.glob("*.tmp*"))
    agreement = float((folder / INT8_REJECTED).read_text())
    assert 0.999 < agreement < 1.0  # what the check measured, for the operator
    vector = model.encode_queries(TEXTS[:1])
    model._session = None  # PyTorch, for reference
    assert (vector @ model.encode_queries(TEXTS[:1]).T)[0, 0] > 0.9999  # the float export serves
    monkeypatch.setattr(embeddings, "INT8_MIN_COSINE", 0.999)
    assert model.accelerate(folder) and model.weights == "float"  # rejected once: not made again for these weights
    (folder / INT8_REJECTED).unlink()
    assert model.accelerate(folder) and model.weights == "int8"
    made = (folder / INT8_FILE).stat().st_mtime_ns
    assert model.accelerate(folder) and (folder / INT8_FILE).stat().st_mtime_ns == made  # made once, then reused
    no_int8 = Embedder(MODEL_DIR, onnx=False, int8=False)
    assert no_int8.accelerate(folder) and no_int8.weights == "float"  # KB_ENCODER_INT8=false
