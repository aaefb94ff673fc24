"""Sentence embeddings with the query/passage prompts the model was trained with.

The model is loaded with sentence-transformers (which fine-tuning needs), and the
encoding itself runs in ONNX Runtime when it can: the transformer, mean pooling and
normalisation exported as one graph. The vectors are the same (cosine > 0.9999 with
PyTorch's); a short question is encoded about 2.5 times faster on two CPU cores
(docs/benchmarks.md), which is most of a search's time. Large batches (an index
build) gain nothing from it and stay in PyTorch, which also keeps ONNX Runtime's
memory arena small. The export is made once per
model and kept beside it (``<model>/onnx/``, or ``models/onnx/<name>`` for a hub
model), stamped with the weights it came from; a model without a usable export,
or an environment without ONNX Runtime, encodes with PyTorch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
HUB_EXPORTS = ROOT / "models" / "onnx"
EXPORT_FORMAT = 1  # bump when the exported graph changes
BATCH_SIZE = 32
ONNX_MAX_TEXTS = 8  # ONNX Runtime's gain is per call (a customer's question); big batches run as fast in PyTorch


def _weights_stamp(model: torch.nn.Module, name: str) -> str:
    """Identifies the weights by an evenly spread sample of each tensor's exact values.

    Cheap (no pass over all 100 M+ values) and deterministic; training changes
    nearly every value of a trained tensor, so it changes the sample too.
    """
    digest = hashlib.sha256(f"{EXPORT_FORMAT}:{name}".encode())
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.startswith("pooler."):
                continue  # BERT's pooler is unused by mean pooling, and randomly initialised when absent
            flat = tensor.detach().reshape(-1)
            digest.update(key.encode())
            digest.update(flat[:: max(1, flat.numel() // 4096)].cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


class PooledEncoder(torch.nn.Module):
    """The transformer with mean pooling and L2 normalisation: the graph that is exported."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=-1)


class Embedder:
    """Wraps a sentence-transformers model; vectors are L2-normalised float32.

    e5 models expect ``query: `` and ``passage: `` prefixes; they are taken from
    the model folder's own prompt configuration, so a model without prompts
    (all-MiniLM) simply gets none.
    """

    def __init__(self, model: str | Path, device: str = "cpu", onnx: bool = True, threads: int = 0) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = str(model)
        self.model = SentenceTransformer(str(model), device=device)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        prompts = getattr(self.model, "prompts", {}) or {}
        self._prompts = {name: prompts[name] for name in ("query", "passage") if name in prompts}
        self._session: Any = None
        self.threads = threads  # ONNX Runtime intra-op threads; 0 = one per core
        if onnx and device == "cpu":
            self.accelerate()

    # -- ONNX Runtime -------------------------------------------------------------------
    @property
    def accelerated(self) -> bool:
        return self._session is not None

    def _export_dir(self) -> Path:
        local = Path(self.name)
        if local.is_dir() and os.access(local, os.W_OK):
            return local / "onnx"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.name)
        return HUB_EXPORTS / safe

    def _pooled_transformer(self) -> torch.nn.Module | None:
        first = self.model[0]
        transformer = getattr(first, "auto_model", None)
        pooling = self.model[1] if len(self.model) > 1 else None
        mean = getattr(pooling, "pooling_mode_mean_tokens", False) or getattr(pooling, "pooling_mode", "") == "mean"
        if transformer is None or not mean:
            return None  # only mean-pooled models are exported; others keep PyTorch
        return transformer

    def accelerate(self, folder: Path | None = None) -> bool:
        """Use ONNX Runtime for the current weights, exporting them first when needed.

        Call it again after the weights change in memory (fine-tuning), with a
        ``folder`` of its own so that the base model's export is left alone.
        Returns whether ONNX Runtime is in use.
        """
        self._session = None
        transformer = self._pooled_transformer()
        if transformer is None:
            return False
        try:
            import onnxruntime as ort
        except ImportError:
            log.info("onnxruntime is not installed: encoding with PyTorch")
            return False
        try:
            stamp = _weights_stamp(transformer, self.name)
            folder = folder or self._export_dir()
            path = folder / "model.onnx"
            stamp_file = folder / "STAMP"
            if not (path.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp):
                self._export(transformer, folder, stamp)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:
            log.warning("could not use ONNX Runtime for %s; encoding with PyTorch", self.name, exc_info=True)
            self._session = None
        return self._session is not None

    def _export(self, transformer: torch.nn.Module, folder: Path, stamp: str) -> None:
        log.info("exporting %s to ONNX (once per model)", self.name)
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        features = self.model.tokenizer(["query: an example"], return_tensors="pt")
        pooled = PooledEncoder(transformer).eval()
        with torch.no_grad():
            torch.onnx.export(
                pooled,
                (features["input_ids"], features["attention_mask"]),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        (tmp / "STAMP").write_text(stamp + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    def _encode_onnx(self, texts: list[str], prefix: str) -> np.ndarray:
        tokenizer = self.model.tokenizer
        limit = int(getattr(self.model, "max_seq_length", 512) or 512)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), BATCH_SIZE):
            chosen = order[start : start + BATCH_SIZE]
            batch = tokenizer(
                [prefix + texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="np",
            )
            feeds = {
                "input_ids": batch["input_ids"].astype(np.int64),
                "attention_mask": batch["attention_mask"].astype(np.int64),
            }
            out[chosen] = self._session.run(None, feeds)[0]
        return out

    # -- encoding -----------------------------------------------------------------------
    def encode_queries(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed customer questions (and alternative phrasings, which are questions too)."""
        return self._encode(texts, "query", progress)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed article bodies."""
        return self._encode(texts, "passage", progress)

    def _encode(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._session is not None and len(texts) <= ONNX_MAX_TEXTS:
            return self._encode_onnx(texts, self._prompts.get(prompt, ""))
        vectors = self.model.encode(
            texts,
            prompt_name=prompt if prompt in self._prompts else None,
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)
